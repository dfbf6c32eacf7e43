//! A whole conversation: system prompt, turns, tools and sampling settings.

use super::block::{Block, CacheTtl};
use super::inference::{InferenceSettings, Thinking};
use super::output::{OutputFormat, ServiceTier};
use super::tool::{ToolChoice, ToolSpec};

/// The canonical request: the parts of a Converse call that come from the client.
///
/// Invariant kept by [`Conversation::push`]: no message is empty and no two consecutive
/// messages share a role (Converse refuses both).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// `system`.
    pub system: Vec<SystemBlock>,
    /// `messages`, in order.
    pub messages: Vec<Message>,
    /// `toolConfig.tools`: the tools the client declared (may be empty).
    pub tools: Vec<ToolSpec>,
    /// `toolConfig.toolChoice`; `None` leaves it to the upstream's default.
    pub tool_choice: Option<ToolChoice>,
    /// `inferenceConfig`.
    pub inference: InferenceSettings,
    /// Thinking asked for: where the model reasons on request, its own field of
    /// `additionalModelRequestFields`; elsewhere dropped.
    pub thinking: Option<Thinking>,
    /// A cache point after the tool definitions (Converse `toolConfig.tools[].cachePoint`).
    pub tools_cache_point: Option<CacheTtl>,
    /// The shape the answer must take (Converse `outputConfig.textFormat`, or a forced tool
    /// where the model has no structured output).
    pub output_format: Option<OutputFormat>,
    /// `serviceTier`.
    pub service_tier: Option<ServiceTier>,
    /// `requestMetadata`: tags for the invocation logs, in the client's order.
    pub metadata: Vec<(String, String)>,
}

/// One entry of the system prompt (Converse `SystemContentBlock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemBlock {
    /// `text`.
    Text(String),
    /// `cachePoint`: the system prompt up to here is a prompt-cache prefix.
    CachePoint(CacheTtl),
}

/// One turn (Converse `Message`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `role`.
    pub role: Role,
    /// `content`.
    pub content: Vec<Block>,
}

/// Who speaks a turn (Converse `ConversationRole`); tool results are the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Conversation {
    /// Appends `blocks` as `role`'s: to the last message when it is `role`'s too, as a new
    /// message otherwise; no blocks, no message. This is what lets a surface send several
    /// tool results (and a text after them) as separate messages.
    pub fn push(&mut self, role: Role, blocks: Vec<Block>) {
        if blocks.is_empty() {
            return;
        }
        match self.messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            Some(_) | None => self.messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }

    /// Cache points as a model takes them: none with nothing before it, none right after
    /// another, and at most `max` in all (the last ones kept: the longest prefixes). In
    /// cache order: the tools' point, the system's, the turns'.
    pub fn tidy_cache_points(&mut self, max: usize) {
        let mut content_before = self.tools_cache_point.is_some() && !self.tools.is_empty();
        if self.tools.is_empty() {
            self.tools_cache_point = None;
        }
        let mut previous_was_point = false;
        let mut keep = |is_point: bool| -> bool {
            if !is_point {
                content_before = true;
                previous_was_point = false;
                return true;
            }
            let kept = content_before && !previous_was_point;
            previous_was_point |= kept;
            kept
        };
        self.system
            .retain(|b| keep(matches!(b, SystemBlock::CachePoint(_))));
        for message in &mut self.messages {
            message
                .content
                .retain(|b| keep(matches!(b, Block::CachePoint(_))));
        }
        let total = usize::from(self.tools_cache_point.is_some())
            + self
                .system
                .iter()
                .filter(|b| matches!(b, SystemBlock::CachePoint(_)))
                .count()
            + self
                .blocks()
                .filter(|b| matches!(b, Block::CachePoint(_)))
                .count();
        let mut extra = total.saturating_sub(max);
        if extra > 0 && self.tools_cache_point.take().is_some() {
            extra -= 1;
        }
        self.system.retain(|b| {
            let drop = extra > 0 && matches!(b, SystemBlock::CachePoint(_));
            extra -= usize::from(drop);
            !drop
        });
        for message in &mut self.messages {
            message.content.retain(|b| {
                let drop = extra > 0 && matches!(b, Block::CachePoint(_));
                extra -= usize::from(drop);
                !drop
            });
        }
    }

    /// Whether any turn holds a tool call or a tool result.
    pub fn uses_tools(&self) -> bool {
        self.blocks()
            .any(|b| matches!(b, Block::ToolUse(_) | Block::ToolResult(_)))
    }

    /// The names of the tools the turns call, each once, in order of first call.
    pub fn called_tool_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for block in self.blocks() {
            if let Block::ToolUse(call) = block
                && !names.contains(&call.name.as_str())
            {
                names.push(&call.name);
            }
        }
        names
    }

    fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.messages.iter().flat_map(|m| &m.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{CacheTtl, ToolUse};

    fn text(t: &str) -> Block {
        Block::Text(t.to_owned())
    }

    fn call(name: &str) -> Block {
        Block::ToolUse(ToolUse {
            id: format!("id-{name}"),
            name: name.to_owned(),
            input: serde_json::json!({}),
        })
    }

    #[test]
    fn push_merges_same_role_turns_and_skips_empty_ones() {
        let mut conversation = Conversation::default();
        conversation.push(Role::User, vec![text("a")]);
        conversation.push(Role::User, vec![]);
        conversation.push(Role::User, vec![text("b")]);
        conversation.push(Role::Assistant, vec![]);
        conversation.push(Role::Assistant, vec![text("c")]);
        conversation.push(Role::User, vec![text("d")]);
        assert_eq!(
            conversation.messages,
            [
                Message {
                    role: Role::User,
                    content: vec![text("a"), text("b")]
                },
                Message {
                    role: Role::Assistant,
                    content: vec![text("c")]
                },
                Message {
                    role: Role::User,
                    content: vec![text("d")]
                },
            ]
        );
    }

    #[test]
    fn cache_points_are_tidied_to_what_a_model_takes() {
        let point = || Block::CachePoint(CacheTtl::FiveMinutes);
        let mut conversation = Conversation {
            system: vec![
                SystemBlock::CachePoint(CacheTtl::FiveMinutes),
                SystemBlock::Text("rules".into()),
                SystemBlock::CachePoint(CacheTtl::OneHour),
            ],
            ..Conversation::default()
        };
        conversation.push(
            Role::User,
            vec![text("a"), point(), point(), text("b"), point()],
        );
        conversation.push(Role::Assistant, vec![text("c"), point()]);
        conversation.push(Role::User, vec![text("d"), point()]);
        conversation.tidy_cache_points(4);
        // The leading point went (nothing before it), the doubled one too, then the earliest
        // of the five left.
        assert_eq!(conversation.system, [SystemBlock::Text("rules".into())]);
        assert_eq!(
            conversation.messages[0].content,
            [text("a"), point(), text("b"), point()]
        );
        assert_eq!(conversation.messages[1].content, [text("c"), point()]);
        assert_eq!(conversation.messages[2].content, [text("d"), point()]);
    }

    #[test]
    fn called_tool_names_are_unique_in_first_call_order() {
        let mut conversation = Conversation::default();
        conversation.push(Role::User, vec![text("go")]);
        assert!(!conversation.uses_tools());
        conversation.push(Role::Assistant, vec![call("b"), call("a"), call("b")]);
        assert!(conversation.uses_tools());
        assert_eq!(conversation.called_tool_names(), ["b", "a"]);
    }
}
