//! The briefing as a self-contained HTML page (no scripts, no external
//! resources). Everything from events is escaped.

use std::fmt::Write;

use concord_core::pb;

use super::{action_line, event_line, group_title, history_line, names, provenance, reasons, title};
use crate::describe;
use crate::window::BriefingTime;

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}\
section{border-top:1px solid #ccc;padding:.5em 0}.why{color:#8a1c1c}.score{color:#666}\
.redacted{color:#666}.overdue{color:#8a1c1c;font-weight:bold}blockquote{margin:.2em 1em;color:#444}";

/// `text` with the characters special in HTML (and in quoted attribute
/// values) replaced by entities.
pub fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// The briefing as an HTML document.
pub fn render(briefing: &pb::Briefing, time: &BriefingTime) -> String {
    let names = names(briefing);
    let from = briefing.from.as_ref().map_or(i64::MIN, concord_core::millis);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{}</p>\n",
        escape(&provenance(briefing, time)),
        t = escape(&title(briefing)),
    );
    if briefing.groups.is_empty() {
        out.push_str("<p>Nothing in this window that you may see.</p>\n");
    }
    for (n, group) in briefing.groups.iter().enumerate() {
        let _ = write!(
            out,
            "<section>\n<h2>{}. {} <span class=\"score\">(score {})</span></h2>\n\
             <p class=\"why\">{}</p>\n<p>Ward: {}</p>\n<ul>\n",
            n + 1,
            escape(&group_title(group, &names)),
            group.score,
            escape(&reasons(group)),
            escape(&group.ward),
        );
        for view in &group.events {
            let redacted = view.visibility == pb::Visibility::ShowRedacted as i32;
            let class = if redacted { " class=\"redacted\"" } else { "" };
            let _ = write!(out, "<li{class}>{}", escape(&event_line(view, time, from)));
            for (field, text) in view.event.as_ref().map(describe::free_text).unwrap_or_default() {
                let _ = write!(out, "<blockquote>{}: {}</blockquote>", escape(&field), escape(&text));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
        if !group.history.is_empty() {
            out.push_str("<h3>History</h3>\n<ul>\n");
            for history in &group.history {
                let _ = writeln!(out, "<li>{}</li>", escape(&history_line(history, &names, &briefing.boroughs)));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("<section>\n<h2>Open actions</h2>\n");
    if briefing.open_actions.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str("<ul>\n");
        for action in &briefing.open_actions {
            let class = if action.overdue { " class=\"overdue\"" } else { "" };
            let _ = write!(out, "<li{class}>{}", escape(&action_line(action, time)));
            if !action.description.is_empty() {
                let _ = write!(out, ": {}", escape(&action.description));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_text_is_escaped() {
        let mut text = std::collections::HashMap::new();
        text.insert("notes".to_string(), "<script>alert('x')</script> & co".to_string());
        let view = pb::EventView {
            visibility: pb::Visibility::Show as i32,
            event: Some(pb::Event {
                agency_id: "police.met.nw".into(),
                personal: Some(pb::Personal { identities: vec![], text }),
                body: Some(pb::event::Body::Arrest(pb::Arrest::default())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let briefing = pb::Briefing {
            recipient_agency_id: "police.met.nw".into(),
            groups: vec![pb::BriefingGroup {
                events: vec![view],
                ward: "Harrow/Wealdstone".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let page = render(&briefing, &BriefingTime::default());
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co"));
        assert!(page.ends_with("</html>\n"));
    }
}
