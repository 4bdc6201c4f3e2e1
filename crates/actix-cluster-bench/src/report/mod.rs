//! The report: BENCHMARKS.md, the SVG plots under `docs/bench/`, the README's
//! benchmark section and `docs/bench/results.json`, all written from one
//! run's results.
//!
//! Where things are:
//! - `goals.rs`: the goals as a table (goal, limit, reader);
//!   `goal_readers.rs`: how each goal's figure is read from the results;
//!   `goal_model.rs`: the types both use.
//! - `sections.rs`: BENCHMARKS.md, one function per section; `downing.rs`,
//!   `cost.rs` and `prose.rs` hold the longer sections.
//! - `plots.rs`: the SVG plots; `readme.rs`: the README section.
//! - `format.rs`: how seconds, distributions and ratios are written.
//! - `keep.rs`: the sections of the old BENCHMARKS.md that a rewrite keeps.

mod cost;
mod downing;
mod format;
mod goal_model;
mod goal_readers;
mod goals;
mod keep;
mod plots;
mod prose;
mod readme;
mod sections;

use std::fmt::Write as _;
use std::path::Path;

pub use crate::report::goal_model::{Goal, GoalStatus};
pub use crate::report::goals::goals;
pub use crate::report::plots::plots_svg;
pub use crate::report::readme::{readme_section, splice_readme};
pub use crate::report::sections::markdown;
use crate::{SuiteResults, WallFigures};

/// The command that reproduces a run of `mode`.
pub fn command(mode: &str, seed: u64) -> String {
    let mut c = "cargo run --release -p actix-cluster-bench --bin bench --".to_owned();
    if mode == "quick" {
        c.push_str(" --quick --out target/bench-quick");
    } else {
        c.push_str(" --out .");
    }
    if seed != crate::DEFAULT_SEED {
        let _ = write!(c, " --seed {seed}");
    }
    c
}

/// Everything a report is made from; written as `docs/bench/results.json` so
/// the report can be regenerated (`bench --report-from`) or checked by others.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// The deterministic figures.
    pub results: SuiteResults,
    /// The machine-dependent ones.
    pub wall: WallFigures,
}

/// The files of other benchmarks under `docs/bench/` that a full report
/// includes. The scale mode splices its own section into BENCHMARKS.md, where
/// its notes by hand (the 100-process runs among them) are added, so its
/// file is only a first copy: once the report has a "Scale" section, that
/// section is kept as it stands instead.
fn other_benchmarks(old_report: Option<&str>) -> Vec<&'static str> {
    let has_scale = old_report.is_some_and(|t| t.contains("\n## Scale\n"));
    let mut names = vec!["sealing.md", "soak.md"];
    if !has_scale {
        names.push("scale.md");
    }
    names
}

/// Reads a `results.json` written by [`write_all`].
pub fn load(path: &Path) -> std::io::Result<Saved> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

/// Writes BENCHMARKS.md at `out`, the plots under `out/docs/bench/`, and the
/// README's benchmark section: between its markers in `out/README.md` when
/// that file has them, else to `out/docs/bench/readme-section.md`.
pub fn write_all(out: &Path, r: &SuiteResults, wall: &WallFigures) -> std::io::Result<()> {
    let plots = out.join("docs").join("bench");
    std::fs::create_dir_all(&plots)?;
    for (name, svg) in plots_svg(r) {
        std::fs::write(plots.join(name), svg)?;
    }
    let mut md = markdown(r, wall);
    let old = std::fs::read_to_string(out.join("BENCHMARKS.md")).ok();
    // Figures measured by other benchmarks (the sealing bench of the
    // protocol crate writes `docs/bench/sealing.md`, the soak bench of
    // actix-cluster `docs/bench/soak.md`, the scale mode
    // `docs/bench/scale.md`) go after the simulator's.
    for name in other_benchmarks(old.as_deref()) {
        let extra = std::path::Path::new("docs").join("bench").join(name);
        for candidate in [plots.join(name), extra] {
            if let Ok(text) = std::fs::read_to_string(&candidate) {
                md.push('\n');
                md.push_str(&text);
                break;
            }
        }
    }
    // Sections other benchmarks wrote (and their notes by hand) stay.
    if let Some(old) = &old {
        md = keep::keep_other_sections(old, md);
    }
    std::fs::write(out.join("BENCHMARKS.md"), md)?;
    let saved = Saved {
        results: r.clone(),
        wall: wall.clone(),
    };
    let json = serde_json::to_string_pretty(&saved).map_err(std::io::Error::other)?;
    std::fs::write(plots.join("results.json"), json + "\n")?;
    let section = readme_section(r, wall);
    let readme = out.join("README.md");
    let spliced = std::fs::read_to_string(&readme)
        .ok()
        .and_then(|text| splice_readme(&text, &section));
    match spliced {
        Some(text) => std::fs::write(readme, text)?,
        None => std::fs::write(plots.join("readme-section.md"), section)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::other_benchmarks;

    #[test]
    fn a_report_with_a_scale_section_keeps_it_instead_of_the_scale_file() {
        assert_eq!(
            other_benchmarks(None),
            ["sealing.md", "soak.md", "scale.md"]
        );
        assert_eq!(
            other_benchmarks(Some("# B\n\n## Crash\nx\n")),
            ["sealing.md", "soak.md", "scale.md"]
        );
        let old = "# B\n\n## Scale\nt\n\n### 100 real processes\nhand\n";
        assert_eq!(other_benchmarks(Some(old)), ["sealing.md", "soak.md"]);
    }
}
