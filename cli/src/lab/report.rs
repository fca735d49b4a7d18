//! What an experiment measured, printed as a table (min/median/max per system) and written as
//! JSON for plots.

use serde::Serialize;

use super::stats::{summarize, Summary};

/// One metric of one system over the repeats.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub experiment: String,
    pub system: String,
    pub metric: String,
    pub unit: String,
    /// One value per repeat (a repeat that failed is left out and said in `notes`).
    pub values: Vec<f64>,
    pub summary: Option<Summary>,
}

impl Measurement {
    pub fn new(experiment: &str, system: &str, metric: &str, unit: &str, values: Vec<f64>) -> Self {
        Measurement {
            experiment: experiment.into(),
            system: system.into(),
            metric: metric.into(),
            unit: unit.into(),
            summary: summarize(&values),
            values,
        }
    }
}

/// Everything one experiment found: figures, and observations that are not numbers (what a
/// client saw, which default applied).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub experiment: String,
    pub measurements: Vec<Measurement>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(experiment: &str) -> Self {
        Report {
            experiment: experiment.into(),
            ..Default::default()
        }
    }

    pub fn add(&mut self, system: &str, metric: &str, unit: &str, values: Vec<f64>) {
        let m = Measurement::new(&self.experiment, system, metric, unit, values);
        self.measurements.push(m);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        println!("  note: {note}");
        self.notes.push(note);
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table of a report: one row per metric and system.
pub fn render(report: &Report) -> String {
    let header = ["metric", "system", "unit", "min", "median", "max", "n"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for m in &report.measurements {
        let (min, median, max) = match m.summary {
            Some(s) => (fmt(s.min), fmt(s.median), fmt(s.max)),
            None => ("-".into(), "-".into(), "-".into()),
        };
        rows.push(vec![
            m.metric.clone(),
            m.system.clone(),
            m.unit.clone(),
            min,
            median,
            max,
            m.values.len().to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("== {} ==\n", report.experiment);
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| match c {
                0..=2 => format!("{cell:<w$}"),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for note in &report.notes {
        out.push_str(&format!("  * {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_metric_and_system() {
        let mut r = Report::new("converge 10");
        r.add("swarm", "time to 10/10", "s", vec![2.0, 1.5, 3.25]);
        r.add("flotilla", "time to 10/10", "s", vec![]);
        r.notes.push("both from a clean start".into());
        let text = render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "== converge 10 ==");
        assert_eq!(
            lines[1],
            "metric         system    unit   min  median   max  n"
        );
        assert_eq!(
            lines[2],
            "time to 10/10  swarm     s     1.50    2.00  3.25  3"
        );
        assert_eq!(
            lines[3],
            "time to 10/10  flotilla  s        -       -     -  0"
        );
        assert_eq!(lines[4], "  * both from a clean start");
    }

    #[test]
    fn the_json_carries_values_and_summary() {
        let mut r = Report::new("replace");
        r.add("swarm", "replacement running", "s", vec![5.5]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["measurements"][0]["values"][0], 5.5);
        assert_eq!(json["measurements"][0]["summary"]["median"], 5.5);
        assert_eq!(json["experiment"], "replace");
    }
}
