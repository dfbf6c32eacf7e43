//! Log lines written to a pipe or a file: plain text, no terminal colour codes, whatever the
//! verbosity (a log collector or `2> file` must read what a person reads).

use crate::support::process;

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    // NO_COLOR is removed so only the pipe itself can turn colours off.
    let output = process::binary()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .args([
            "-vvv",
            "demo",
            "cris",
            "--sandbox",
            "--requests",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("DEBUG") || stderr.contains("TRACE"),
        "-vvv logged nothing, so the test checks nothing:\n{stderr}"
    );
    let coloured: Vec<&str> = stderr.lines().filter(|l| l.contains("\x1b[")).collect();
    assert!(
        coloured.is_empty(),
        "{} of {} log lines on a pipe carry colour codes, e.g. {:?}",
        coloured.len(),
        stderr.lines().count(),
        coloured.first()
    );
}
