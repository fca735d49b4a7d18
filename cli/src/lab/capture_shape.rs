//! The captured output in docs/lessons/ pages: blocks between `<!-- capture ID -->` and
//! `<!-- /capture -->`, filled by `flotilla lab capture`, and their *shape* — commands,
//! table headers and line counts, not IDs or times — which `--check` compares with a fresh run.

/// The marker opening block `id`.
pub fn open_marker(id: &str) -> String {
    format!("<!-- capture {id} -->")
}

const CLOSE: &str = "<!-- /capture -->";

/// `page` with block `id`'s content replaced by `text` in a fenced block; `None` if the page
/// has no such block.
pub fn fill(page: &str, id: &str, text: &str) -> Option<String> {
    let open = open_marker(id);
    let start = page.find(&open)? + open.len();
    let end = start + page[start..].find(CLOSE)?;
    let body = format!("\n```text\n{}\n```\n", text.trim_end());
    Some(format!("{}{body}{}", &page[..start], &page[end..]))
}

/// The text of block `id` (inside the fence), if the page has it.
pub fn extract(page: &str, id: &str) -> Option<String> {
    let open = open_marker(id);
    let start = page.find(&open)? + open.len();
    let end = start + page[start..].find(CLOSE)?;
    let inner = page[start..end].trim();
    let inner = inner.strip_prefix("```text").unwrap_or(inner);
    let inner = inner.strip_suffix("```").unwrap_or(inner);
    Some(inner.trim().to_string())
}

/// Every block id in a page, in order.
pub fn ids(page: &str) -> Vec<String> {
    page.match_indices("<!-- capture ")
        .filter_map(|(i, _)| {
            let rest = &page[i + "<!-- capture ".len()..];
            Some(rest[..rest.find(" -->")?].to_string())
        })
        .collect()
}

/// A line of column headers: two or more words, all upper case (`ID  NAME  MODE  REPLICAS`).
fn is_header(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() >= 2
        && words.iter().all(|w| {
            w.chars().any(|c| c.is_ascii_uppercase()) && !w.chars().any(|c| c.is_ascii_lowercase())
        })
}

/// The shape of captured text: each `$ command` line as is; after it, its output's header (if
/// a table, whitespace collapsed) and its number of lines.
pub fn shape(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = 0usize;
    let flush = |out: &mut Vec<String>, lines: &mut usize| {
        if *lines > 0 {
            out.push(format!("{} line(s)", lines));
        }
        *lines = 0;
    };
    let mut first = false;
    for line in text.lines() {
        if line.starts_with("$ ") {
            flush(&mut out, &mut lines);
            out.push(line.to_string());
            first = true;
            continue;
        }
        if first && is_header(line) {
            out.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        first = false;
        lines += 1;
    }
    flush(&mut out, &mut lines);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# Nodes\n\n<!-- capture nodes/swarm -->\nold\n<!-- /capture -->\n\ntext\n";

    #[test]
    fn a_block_is_filled_and_read_back() {
        let page = fill(
            PAGE,
            "nodes/swarm",
            "$ docker node ls\nID  HOSTNAME\nabc  host\n",
        )
        .unwrap();
        assert!(
            page.starts_with("# Nodes\n\n<!-- capture nodes/swarm -->\n```text\n$ docker node ls")
        );
        assert!(page.ends_with("```\n<!-- /capture -->\n\ntext\n"), "{page}");
        assert_eq!(
            extract(&page, "nodes/swarm").unwrap(),
            "$ docker node ls\nID  HOSTNAME\nabc  host"
        );
        assert_eq!(fill(PAGE, "other", "x"), None);
        assert_eq!(ids(&page), vec!["nodes/swarm"]);
    }

    #[test]
    fn the_shape_keeps_commands_headers_and_counts_not_values() {
        let a = "$ docker service ls\nID   NAME  MODE   REPLICAS\nx1   web   replicated  3/3\n$ curl -s http://127.0.0.1:18080/\n<h1>Hello</h1>";
        let b = "$ docker service ls\nID     NAME  MODE  REPLICAS\nzz99   web   replicated  3/3\n$ curl -s http://127.0.0.1:18080/\n<h1>Hello</h1>";
        assert_eq!(shape(a), shape(b));
        assert_eq!(
            shape(a),
            vec![
                "$ docker service ls",
                "ID NAME MODE REPLICAS",
                "2 line(s)",
                "$ curl -s http://127.0.0.1:18080/",
                "1 line(s)"
            ]
        );
        let more_rows = format!("{a}\nextra");
        assert_ne!(
            shape(a),
            shape(&more_rows),
            "a changed row count is a different shape"
        );
        assert!(!is_header("swarmservice.flotilla.dev/web created"));
        assert!(is_header("NAME   MODE   REPLICAS   IMAGE"));
    }
}
