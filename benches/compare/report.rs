//! The results: one row per workload, printed as a table and written as JSON.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value as Json, json};

/// Which way a unit improves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times and sizes: less is better; ratio = execnet / execdeck.
    Lower,
    /// Rates: more is better; ratio = execdeck / execnet.
    Higher,
}

/// One measured workload.
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub better: Better,
    /// Medians.
    pub execdeck: Option<f64>,
    pub execnet: Option<f64>,
    /// The machine's limit for this workload, measured in the same run.
    pub limit: Option<f64>,
    /// What the limit is (shown beside it).
    pub limit_label: &'static str,
    /// Overrides the execnet-based ratio (e.g. a ratio to another execdeck run).
    pub ratio_override: Option<f64>,
    /// The goal, as text.
    pub target: String,
    /// Whether the goal is met (None when it cannot be judged).
    pub met: Option<bool>,
    /// Further numbers for the JSON (raw samples, per-gateway values, ...).
    pub extra: serde_json::Map<String, Json>,
    /// Why a side could not be measured.
    pub errors: Vec<String>,
}

impl Row {
    pub fn new(name: impl Into<String>, unit: &'static str, better: Better) -> Row {
        Row {
            name: name.into(),
            unit,
            better,
            execdeck: None,
            execnet: None,
            limit: None,
            limit_label: "",
            ratio_override: None,
            target: String::new(),
            met: None,
            extra: serde_json::Map::new(),
            errors: Vec::new(),
        }
    }

    /// execnet's cost over ours (or our rate over execnet's): above 1 means faster.
    pub fn ratio(&self) -> Option<f64> {
        if self.ratio_override.is_some() {
            return self.ratio_override;
        }
        let (ours, theirs) = (self.execdeck?, self.execnet?);
        let r = match self.better {
            Better::Lower => theirs / ours,
            Better::Higher => ours / theirs,
        };
        r.is_finite().then_some(r)
    }

    fn to_json(&self) -> Json {
        let mut obj = serde_json::Map::new();
        obj.insert("workload".into(), json!(self.name));
        obj.insert("unit".into(), json!(self.unit));
        obj.insert("execdeck".into(), json!(self.execdeck));
        obj.insert("execnet".into(), json!(self.execnet));
        obj.insert("ratio".into(), json!(self.ratio()));
        if self.limit.is_some() {
            obj.insert("limit".into(), json!(self.limit));
            obj.insert("limit_is".into(), json!(self.limit_label));
        }
        obj.insert("target".into(), json!(self.target));
        obj.insert("target_met".into(), json!(self.met));
        if !self.errors.is_empty() {
            obj.insert("errors".into(), json!(self.errors));
        }
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        Json::Object(obj)
    }
}

/// A number with about four significant digits.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{} {unit}", num(v)))
}

/// The table as text.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "workload", "execdeck", "execnet", "ratio", "target", "limit",
    ];
    let body: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let target = match r.met {
                Some(true) => format!("{} ✓", r.target),
                Some(false) => format!("{} ✗", r.target),
                None => r.target.clone(),
            };
            let limit = r
                .limit
                .map(|l| format!("{} {} ({})", num(l), r.unit, r.limit_label))
                .unwrap_or_default();
            [
                r.name.clone(),
                cell(r.execdeck, r.unit),
                cell(r.execnet, r.unit),
                r.ratio().map_or_else(|| "—".into(), |x| format!("{x:.2}×")),
                target,
                limit,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        out.push('|');
        for (c, w) in cells.iter().zip(widths) {
            let pad = w - c.chars().count();
            let _ = write!(out, " {c}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    out.push('|');
    for w in widths {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    out.push('\n');
    for row in &body {
        line(&mut out, row);
    }
    for r in rows {
        for e in &r.errors {
            let _ = writeln!(out, "{}: {e}", r.name);
        }
    }
    out
}

/// Writes the rows as a JSON array, one object per workload.
pub fn write_rows(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    write_json(path, &Json::Array(rows.iter().map(Row::to_json).collect()))
}

/// Writes `doc` to `path` (through a temporary file, so a reader never sees half of it).
pub fn write_json(path: &Path, doc: &Json) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
}
