//! An [`Incident`] → one self-contained HTML page: per-key summaries, an inline SVG timeline of calls per
//! key, and a table of the suspicious calls that sorts and filters in the page. Nothing is fetched: the
//! style, the drawing and the script are inline, and the page's Content-Security-Policy allows no network
//! and only its own script (by a fresh nonce). Every value from a record goes through [`text`], so a user
//! agent holding `<script>` or `"><img onerror=…>` is shown as the text it is, in elements and attributes
//! alike, and an invisible character (a bidi override, a zero-width space, a line separator) as a visible
//! escape; each value is a bidi isolate, so right-to-left text in it cannot reorder its neighbours. The
//! script reads and sorts the rendered cells and writes nothing that came from a record.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

use jiff::Timestamp;

use crate::incident::{Incident, KeyStory};
use crate::terminal;

/// The page's script: header clicks sort the table, the filter box hides rows.
const SCRIPT: &str = include_str!("report.js");

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}h3{font-size:1em;margin:0 0 .3em;font-family:monospace}\
.keys{display:flex;flex-wrap:wrap;gap:1em}.key{border:1px solid #ccc;border-left:5px solid #c0392b;padding:.6em .9em;\
max-width:44em}dl{display:grid;grid-template-columns:auto 1fr;gap:.1em .8em;margin:0}\
dt{color:#666}dd{margin:0;overflow-wrap:anywhere}table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top;white-space:nowrap}\
td.w{white-space:normal;overflow-wrap:anywhere;min-width:12em}td:last-child{white-space:normal}\
th{background:#f4f4f4;cursor:pointer;white-space:nowrap;user-select:none}th[aria-sort=ascending]::after{content:' ▲'}\
th[aria-sort=descending]::after{content:' ▼'}td.n{text-align:right}code{font-size:.95em}\
#filter{font:inherit;padding:.3em;width:24em;margin:.5em 0}svg text{font:11px system-ui,sans-serif}\
.muted{color:#666}td,dd,code,h3,svg text{unicode-bidi:isolate}";

/// Inputs named at the foot of the page, at most.
const SOURCES_NAMED: usize = 10;

/// Renders the whole page. `generated` and `sources` say when and from what, at the foot.
pub fn render(incident: &Incident, generated: Timestamp, sources: &[String]) -> String {
    let nonce = nonce();
    let mut page = String::with_capacity(64 << 10);
    let keys_with = incident.keys.iter().filter(|k| k.suspicious > 0).count();
    let title = format!("keywatcher: {} suspicious call(s) by {keys_with} key(s)", incident.suspicious_total);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style></head><body>\n\
<h1>{title}</h1>\n<p class=\"muted\">{} call(s) by {} key(s){}.</p>\n",
        incident.calls,
        incident.keys.len(),
        incident.span.map_or(String::new(), |(from, to)| format!(", from {} to {}", minute(from), minute(to))),
    );
    summaries(&mut page, incident);
    page.push_str("<h2>Calls per key over time</h2>\n");
    timeline(&mut page, incident);
    calls_table(&mut page, incident);
    page.push_str("<p class=\"muted\">Written by keywatcher ");
    page.push_str(env!("CARGO_PKG_VERSION"));
    let _ = write!(page, " at {} from ", minute(generated));
    // A directory read whole is many files: the first few name it.
    for (i, source) in sources.iter().take(SOURCES_NAMED).enumerate() {
        page.push_str(if i == 0 { "" } else { ", " });
        page.push_str("<code>");
        text(&mut page, source);
        page.push_str("</code>");
    }
    if sources.len() > SOURCES_NAMED {
        let _ = write!(page, " and {} more file(s)", sources.len() - SOURCES_NAMED);
    }
    let _ = write!(page, ".</p>\n<script nonce=\"{nonce}\">{SCRIPT}</script>\n</body></html>\n");
    page
}

/// Keys given a summary box, a timeline lane, or a name in the list of calm keys, at most: a page about
/// thousands of keys stays one a browser opens at once, and says what it left out.
const KEYS_SHOWN: usize = 40;

/// Per key with suspicious calls (the [`KEYS_SHOWN`] with most): who, how many, when, and what was new.
/// The other keys in one line.
fn summaries(page: &mut String, incident: &Incident) {
    page.push_str("<h2>Keys</h2>\n<div class=\"keys\">\n");
    let (suspicious, calm): (Vec<&KeyStory>, Vec<&KeyStory>) = incident.keys.iter().partition(|k| k.suspicious > 0);
    for story in suspicious.iter().take(KEYS_SHOWN) {
        page.push_str("<div class=\"key\"><h3>");
        text(page, &story.key);
        page.push_str("</h3><dl><dt>user</dt><dd>");
        text(page, &story.user);
        page.push_str("</dd><dt>account</dt><dd>");
        text(page, &story.account);
        let _ = write!(page, "</dd><dt>suspicious</dt><dd>{} of {} call(s)", story.suspicious, story.calls);
        if story.unknown {
            page.push_str(" — no profile for this key");
        }
        page.push_str("</dd>");
        if let (Some(first), Some(last)) = (story.first, story.last) {
            let _ = write!(page, "<dt>first suspicious</dt><dd>{first}</dd><dt>last suspicious</dt><dd>{last}</dd>");
        }
        let new = &story.new;
        for (label, values) in [
            ("new IPs", &new.ips),
            ("new agents", &new.agents),
            ("new regions", &new.regions),
            ("new events", &new.events),
        ] {
            if values.is_empty() {
                continue;
            }
            let _ = write!(page, "<dt>{label}</dt><dd>");
            for (i, (value, count)) in values.iter().enumerate() {
                page.push_str(if i == 0 { "<code>" } else { ", <code>" });
                text(page, value);
                let _ = write!(page, "</code> ({count})");
            }
            page.push_str("</dd>");
        }
        page.push_str("</dl></div>\n");
    }
    page.push_str("</div>\n");
    if let Some(more) = suspicious.len().checked_sub(KEYS_SHOWN).filter(|&more| more > 0) {
        let _ = writeln!(
            page,
            "<p class=\"muted\">{more} more key(s) with fewer suspicious calls are not summarised here.</p>"
        );
    }
    if !calm.is_empty() {
        page.push_str("<p id=\"calm\">No suspicious calls: ");
        for (i, story) in calm.iter().take(KEYS_SHOWN).enumerate() {
            page.push_str(if i == 0 { "<code>" } else { ", <code>" });
            text(page, &story.key);
            page.push_str("</code> (");
            text(page, &story.user);
            let _ = write!(page, ", {} call(s))", story.calls);
        }
        if calm.len() > KEYS_SHOWN {
            let _ = write!(page, " and {} more key(s)", calm.len() - KEYS_SHOWN);
        }
        page.push_str(".</p>\n");
    }
}

const WIDTH: f64 = 960.0;
const LABEL: f64 = 220.0;
const LANE: f64 = 46.0;
const BINS: i64 = 120;

/// One lane per key (the first [`KEYS_SHOWN`]): grey bars for calls per time slice, red for the suspicious ones, with a red mark above
/// any slice that has one so that a single call stands out; the time axis below.
fn timeline(page: &mut String, incident: &Incident) {
    let Some((from, to)) = incident.span else {
        return;
    };
    let first = from.as_second().div_euclid(60);
    let minutes = (to.as_second().div_euclid(60) - first + 1).max(1);
    let per_bin = (minutes + BINS - 1) / BINS;
    let bins = (minutes + per_bin - 1) / per_bin;
    let plot = WIDTH - LABEL - 10.0;
    let bar = plot / bins as f64;
    // Keys come with the most suspicious calls first: those are the lanes drawn.
    let keys = &incident.keys[..incident.keys.len().min(KEYS_SHOWN)];
    let height = LANE * keys.len() as f64 + 30.0;
    let _ = writeln!(
        page,
        "<svg id=\"timeline\" width=\"{WIDTH}\" height=\"{height}\" \
viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"calls per key over time, {per_bin} minute(s) per bar\">"
    );
    for (lane, story) in keys.iter().enumerate() {
        let top = lane as f64 * LANE;
        let base = top + LANE - 6.0;
        let counts = binned(story, first, per_bin, bins as usize);
        let peak = counts.iter().map(|c| c.0).max().unwrap_or(1).max(1) as f64;
        let scale = (LANE - 16.0) / peak;
        let _ = write!(page, "<g><text x=\"0\" y=\"{}\">", top + 18.0);
        text(page, &story.key);
        let _ = write!(page, "</text><text x=\"0\" y=\"{}\" fill=\"#666\">", top + 32.0);
        text(page, &story.user);
        let _ = write!(
            page,
            "</text><line x1=\"{LABEL}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#bbb\"/>",
            LABEL + plot
        );
        for (i, &(all, suspicious)) in counts.iter().enumerate().filter(|(_, c)| c.0 > 0) {
            let x = LABEL + i as f64 * bar;
            let start = Timestamp::from_second((first + i as i64 * per_bin) * 60).unwrap_or(from);
            let _ = write!(
                page,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#95a5a6\">\
<title>{}: {all} call(s), \
{suspicious} suspicious</title></rect>",
                base - all as f64 * scale,
                (bar - 0.5).max(0.5),
                all as f64 * scale,
                minute(start)
            );
            if suspicious > 0 {
                let _ = write!(
                    page,
                    "<rect class=\"suspicious\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
fill=\"#c0392b\"/>\
<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#c0392b\"/>",
                    base - suspicious as f64 * scale,
                    (bar - 0.5).max(0.5),
                    suspicious as f64 * scale,
                    x + bar / 2.0,
                    top + 5.0
                );
            }
        }
        page.push_str("</g>\n");
    }
    let axis = LANE * keys.len() as f64 + 14.0;
    for tick in 0..=4 {
        let x = LABEL + plot * f64::from(tick) / 4.0;
        let at = Timestamp::from_second(from.as_second() + (to.as_second() - from.as_second()) * i64::from(tick) / 4)
            .unwrap_or(from);
        let anchor = match tick {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = writeln!(page, "<text x=\"{x:.1}\" y=\"{axis}\" text-anchor=\"{anchor}\">{}</text>", minute(at));
    }
    page.push_str("</svg>\n");
    if keys.len() < incident.keys.len() {
        let _ = writeln!(
            page,
            "<p class=\"muted\">{} more key(s), with fewer suspicious calls, are not drawn.</p>",
            incident.keys.len() - keys.len()
        );
    }
}

/// A key's calls per minute folded into `bins` slices of `per_bin` minutes from minute `first`.
fn binned(story: &KeyStory, first: i64, per_bin: i64, bins: usize) -> Vec<(u64, u64)> {
    let mut counts = vec![(0, 0); bins];
    for (&at, &(all, suspicious)) in &story.minutes {
        let slot = &mut counts[(((at - first) / per_bin) as usize).min(bins - 1)];
        slot.0 += all;
        slot.1 += suspicious;
    }
    counts
}

/// The suspicious calls, one row each, by time; the page's script sorts and filters them.
fn calls_table(page: &mut String, incident: &Incident) {
    page.push_str("<h2>Suspicious calls</h2>\n");
    if incident.suspicious_total > incident.suspicious.len() as u64 {
        let _ = writeln!(
            page,
            "<p><strong>The table holds the earliest {} of the {} suspicious calls</strong>; the counts and the \
timeline \
above cover them all. Narrow what is scored (<code>score --key</code>, <code>--since</code>) to see the rest.</p>",
            incident.suspicious.len(),
            incident.suspicious_total
        );
    }
    let _ = write!(
        page,
        "<input id=\"filter\" type=\"search\" placeholder=\"Filter: words in any column\" \
aria-label=\"filter the suspicious calls\"> <span id=\"shown\" class=\"muted\">{0} of {0}</span>\n\
<table id=\"calls\"><thead><tr><th data-col=\"time\" aria-sort=\"ascending\">time</th><th data-col=\"key\">key</th>\
<th data-col=\"user\">user</th><th data-col=\"ip\">source IP</th><th data-col=\"region\">region</th>\
<th data-col=\"event\">event</th><th data-col=\"agent\">user agent</th>\
<th data-col=\"score\" data-type=\"num\">score</th><th data-col=\"new\">new</th></tr></thead><tbody>\n",
        incident.suspicious.len()
    );
    for call in &incident.suspicious {
        // The event ID, for finding the record in CloudTrail, is the time cell's tooltip.
        page.push_str("<tr><td title=\"eventID ");
        text(page, &call.event_id);
        page.push_str("\">");
        text(page, &call.event_time);
        page.push_str("</td>");
        let event = call.event();
        for value in [&call.access_key_id, &call.user_name, &call.source_ip, &call.aws_region, &event] {
            page.push_str("<td>");
            text(page, value);
            page.push_str("</td>");
        }
        page.push_str("<td class=\"w\">");
        text(page, &call.user_agent);
        let _ = writeln!(page, "</td><td class=\"n\">{}</td><td>{}</td></tr>", call.score, call.new_factors());
    }
    page.push_str("</tbody></table>\n");
}

/// Appends `s` escaped for HTML text and for a double-quoted attribute value alike; a character that would
/// act unseen ([`terminal::hidden`]) is written as its escape, `\u{202e}`, as the terminal shows it.
pub fn text(page: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => page.push_str("&amp;"),
            '<' => page.push_str("&lt;"),
            '>' => page.push_str("&gt;"),
            '"' => page.push_str("&quot;"),
            '\'' => page.push_str("&#39;"),
            c if terminal::hidden(c) => page.extend(c.escape_default()),
            c => page.push(c),
        }
    }
}

/// `2026-11-08 14:31` (UTC), as the axis and captions show times.
fn minute(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

/// A fresh value for the script nonce: 128 bits from the standard library's randomly seeded hasher.
fn nonce() -> String {
    let half = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_and_quotes() {
        let mut out = String::new();
        text(&mut out, r#""><img src=x onerror='a&b'>"#);
        assert_eq!(out, "&quot;&gt;&lt;img src=x onerror=&#39;a&amp;b&#39;&gt;");
        out.clear();
        text(&mut out, "cli\u{202e}exe.\u{200b}\u{2028}\u{1b}山田");
        assert_eq!(out, "cli\\u{202e}exe.\\u{200b}\\u{2028}\\u{1b}山田");
    }

    #[test]
    fn a_page_about_many_keys_draws_some_and_says_how_many_more() {
        let mut builder = crate::incident::Builder::default();
        for key in 0..KEYS_SHOWN + 5 {
            for (i, suspicious) in [(0, true), (1, key % 2 == 0)] {
                let line = serde_json::json!({
                    "eventTime": format!("2026-11-08T10:{:02}:{i:02}Z", key), "accessKeyId": format!("AKIA{key:04}"),
                    "score": 0, "suspicious": suspicious, "profile": "unknown",
                    "matched": {"ip": false, "agent": false, "region": false, "event": false}
                });
                builder.add(&line.to_string()).unwrap();
            }
        }
        let page = render(&builder.finish(), Timestamp::UNIX_EPOCH, &["scored.ndjson".to_string()]);
        assert_eq!(page.matches("<div class=\"key\">").count(), KEYS_SHOWN);
        assert_eq!(page.matches("<g>").count(), KEYS_SHOWN);
        assert!(page.contains("5 more key(s) with fewer suspicious calls are not summarised here."));
        assert!(page.contains("5 more key(s), with fewer suspicious calls, are not drawn."));
        // Keys with two suspicious calls come first, then those with one, by key.
        assert!(page.contains("<h3>AKIA0044</h3>") && !page.contains("<h3>AKIA0043</h3>"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
