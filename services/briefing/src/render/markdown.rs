//! The briefing as Markdown, for email and chat. Text from agencies is
//! escaped so it cannot change the document's structure.

use std::fmt::Write;

use concord_core::pb;

use super::{action_line, event_line, group_title, history_line, names, provenance, reasons, title};
use crate::describe;
use crate::window::BriefingTime;

/// `text` on one line with Markdown's special characters escaped (an
/// underscore inside a word, as in `childrens_services`, cannot emphasise
/// and is left alone).
pub fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let inside_word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
        match c {
            '_' if inside_word(i.checked_sub(1).and_then(|j| chars.get(j))) && inside_word(chars.get(i + 1)) => {
                out.push(c);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// The briefing as a Markdown document.
pub fn render(briefing: &pb::Briefing, time: &BriefingTime) -> String {
    let names = names(briefing);
    let from = briefing.from.as_ref().map_or(i64::MIN, concord_core::millis);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# {}\n\n{}\n", escape(&title(briefing)), escape(&provenance(briefing, time)));
    if briefing.groups.is_empty() {
        out.push_str("Nothing in this window that you may see.\n\n");
    }
    for (n, group) in briefing.groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "## {}. {} (score {})\n\n**Why:** {}  \n**Ward:** {}\n",
            n + 1,
            escape(&group_title(group, &names)),
            group.score,
            escape(&reasons(group)),
            escape(&group.ward),
        );
        for view in &group.events {
            let _ = writeln!(out, "- {}", escape(&event_line(view, time, from)));
            for (field, text) in view.event.as_ref().map(describe::free_text).unwrap_or_default() {
                let _ = writeln!(out, "  - {}: \"{}\"", escape(&field), escape(&text));
            }
        }
        if !group.history.is_empty() {
            out.push_str("\n**History:**\n\n");
            for history in &group.history {
                let _ = writeln!(out, "- {}", escape(&history_line(history, &names, &briefing.boroughs)));
            }
        }
        out.push('\n');
    }
    out.push_str("## Open actions\n\n");
    if briefing.open_actions.is_empty() {
        out.push_str("None.\n");
    }
    for action in &briefing.open_actions {
        let _ = write!(out, "- {}", escape(&action_line(action, time)));
        if !action.description.is_empty() {
            let _ = write!(out, ": \"{}\"", escape(&action.description));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_text_cannot_inject_markdown() {
        assert_eq!(escape("**bold** <b>\n# x | y"), "\\*\\*bold\\*\\* \\<b\\> \\# x \\| y");
        assert_eq!(escape("childrens_services _em_ x_"), "childrens_services \\_em\\_ x\\_");
    }

    #[test]
    fn an_empty_briefing_says_so() {
        let briefing = pb::Briefing { recipient_agency_id: "vcs.st-giles".into(), ..Default::default() };
        let text = render(&briefing, &BriefingTime::default());
        assert!(text.starts_with("# VVE briefing for vcs.st-giles"), "{text}");
        assert!(text.contains("Nothing in this window that you may see."));
        assert!(text.contains("## Open actions\n\nNone."));
    }
}
