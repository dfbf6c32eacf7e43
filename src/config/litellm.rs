//! LiteLLM proxy settings that load here without effect.
//!
//! An existing LiteLLM config must load unchanged, so keys LiteLLM knows but this
//! gateway does not implement are set aside with one warning that lists them, while
//! any other unknown key is an error with a did-you-mean hint.

/// The unimplemented LiteLLM keys of a section (`""` is the top level).
pub fn unimplemented_keys(section: &str) -> &'static [&'static str] {
    match section {
        "" => TOP_LEVEL,
        "general_settings" => GENERAL_SETTINGS,
        "litellm_settings" => LITELLM_SETTINGS,
        "router_settings" => ROUTER_SETTINGS,
        "litellm_params" => LITELLM_PARAMS,
        "model_info" => MODEL_INFO,
        _ => &[],
    }
}

/// LiteLLM keys of the top level that load here without effect.
const TOP_LEVEL: &[&str] = &[
    "environment_variables",
    "callback_settings",
    "guardrails",
    "credential_list",
    "mcp_servers",
    "assistant_settings",
    "files_settings",
    "finetune_settings",
    "vector_store_registry",
    "search_tools",
];

/// LiteLLM keys of `general_settings` that load here without effect.
const GENERAL_SETTINGS: &[&str] = &[
    "database_url",
    "database_connection_pool_limit",
    "database_connection_timeout",
    "store_model_in_db",
    "store_prompts_in_spend_logs",
    "disable_spend_logs",
    "disable_error_logs",
    "alerting",
    "alerting_threshold",
    "alert_types",
    "proxy_batch_write_at",
    "background_health_checks",
    "health_check_interval",
    "health_check_details",
    "allowed_routes",
    "admin_only_routes",
    "global_max_parallel_requests",
    "infer_model_from_keys",
    "disable_master_key_return",
    "enforce_user_param",
    "ui_access_mode",
    "json_logs",
    "max_response_size_mb",
    "proxy_budget_rescheduler_min_time",
    "proxy_budget_rescheduler_max_time",
    "allow_requests_on_db_unavailable",
    "custom_auth",
    "enable_jwt_auth",
    "litellm_jwtauth",
    "use_redis_transaction_buffer",
    "forward_openai_org_id",
    "pass_through_endpoints",
];

/// LiteLLM keys of `litellm_settings` that load here without effect.
const LITELLM_SETTINGS: &[&str] = &[
    "set_verbose",
    "success_callback",
    "failure_callback",
    "service_callback",
    "service_callbacks",
    "cache",
    "cache_params",
    "turn_off_message_logging",
    "redact_user_api_key_info",
    "default_team_settings",
    "telemetry",
    "modify_params",
    "force_ipv4",
    "enable_json_schema_validation",
    "disable_end_user_cost_tracking",
    "ssl_verify",
    "default_fallbacks",
    "fallbacks",
    "content_policy_fallbacks",
    "max_internal_user_budget",
    "internal_user_budget_duration",
    "upperbound_key_generate_params",
    "default_key_generate_params",
];

/// LiteLLM keys of `router_settings` that load here without effect.
const ROUTER_SETTINGS: &[&str] = &[
    "retry_policy",
    "allowed_fails_policy",
    "routing_strategy_args",
    "provider_budget_config",
    "enable_tag_filtering",
    "disable_cooldowns",
    "optional_pre_call_checks",
    "model_group_retry_policy",
    "cache_responses",
    "client_ttl",
    "polling_interval",
    "max_fallbacks",
    "content_policy_fallbacks",
    "redis_db",
    "cache_kwargs",
];

/// LiteLLM keys of `litellm_params` that load here without effect.
const LITELLM_PARAMS: &[&str] = &[
    "aws_session_token",
    "aws_role_name",
    "aws_session_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "max_tokens",
    "temperature",
    "stream_timeout",
    "max_retries",
    "organization",
    "api_version",
    "tags",
    "mock_response",
    "max_parallel_requests",
    "custom_llm_provider",
    "drop_params",
    "additional_drop_params",
    "use_in_pass_through",
    "merge_reasoning_content_in_choices",
];

/// LiteLLM keys of `model_info` that load here without effect.
const MODEL_INFO: &[&str] = &[
    "base_model",
    "description",
    "team_id",
    "access_groups",
    "tier",
    "db_model",
    "updated_at",
    "updated_by",
    "created_at",
    "created_by",
];

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over chars where swapping two neighbours counts as one edit
/// (optimal string alignment), since `rmp` for `rpm` is the typical typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["rpm", "tpm", "model", "aws_region_name"];
        assert_eq!(did_you_mean("rmp", &keys), Some("rpm"));
        assert_eq!(
            did_you_mean("aws_regin_name", &keys),
            Some("aws_region_name")
        );
        assert_eq!(did_you_mean("colour", &keys), None);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("rmp", "rpm"), 1);
    }
}
