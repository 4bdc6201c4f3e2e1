//! The goal table's types: a goal and its status, a row (goal text, limit,
//! reader), what a reader reads and what it finds. Below both the table
//! (`goals.rs`) and its readers (`goal_readers.rs`).

use crate::{SuiteResults, WallFigures};

/// A goal and where we stand.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// What the goal says.
    pub goal: String,
    /// The figure measured.
    pub figure: String,
    /// Met, missed, or not measured in this run.
    pub status: GoalStatus,
}

/// Status of a goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalStatus {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// Not measured in this mode.
    NotMeasured,
    /// Measured, but a ratio goal has nothing to compare: both counts are zero.
    Undecidable,
}

impl GoalStatus {
    /// How the report's goal table writes the status.
    pub(crate) fn label(self) -> &'static str {
        match self {
            GoalStatus::Met => "met",
            GoalStatus::Missed => "**missed**",
            GoalStatus::NotMeasured => "not measured in this mode",
            GoalStatus::Undecidable => "undecidable (both zero: no ratio to take)",
        }
    }

    /// Not measured, else met when `ok`.
    pub(crate) fn from(measured: bool, ok: bool) -> GoalStatus {
        match (measured, ok) {
            (false, _) => GoalStatus::NotMeasured,
            (true, true) => GoalStatus::Met,
            (true, false) => GoalStatus::Missed,
        }
    }
}

/// The figure a reader found and how it stands against the goal.
pub(crate) struct Reading {
    /// The figure as the report writes it.
    pub(crate) figure: String,
    /// Met, missed, not measured or undecidable.
    pub(crate) status: GoalStatus,
    /// The value of the goal text's `{stall_grace}`, when the reader knows it.
    pub(crate) stall_grace: Option<f64>,
}

impl Reading {
    /// A reading whose goal text needs nothing from the results.
    pub(crate) fn new(figure: impl Into<String>, status: GoalStatus) -> Reading {
        Reading {
            figure: figure.into(),
            status,
            stall_grace: None,
        }
    }
}

/// Reads a goal's figure from the results; `None` leaves the goal out of
/// this report (it does not apply to the run's mode, or its companion row
/// already says it was not measured).
pub(crate) type Reader = fn(&Inputs<'_>, &GoalRow) -> Option<Reading>;

/// What the readers read.
pub(crate) struct Inputs<'a> {
    /// The deterministic figures.
    pub(crate) results: &'a SuiteResults,
    /// The machine-dependent ones.
    pub(crate) wall: &'a WallFigures,
}

/// One goal of the table.
pub(crate) struct GoalRow {
    /// What the goal says. `{limit}`, `{n}`, `{grace}` (the downing
    /// checker's grace at N = 10), `{stable_after}` and `{stall_grace}` (from
    /// the reading) are filled in.
    pub(crate) goal: &'static str,
    /// The goal's text when the reader finds nothing measured, if shorter.
    pub(crate) unmeasured: Option<&'static str>,
    /// The cluster size the goal is about (0: none in particular).
    pub(crate) n: usize,
    /// The limit the reader holds the figure to (seconds, kbit/s, a count or
    /// a factor, as the goal says; unused by comparisons with foca).
    pub(crate) limit: f64,
    /// How the figure is read from the results and judged.
    pub(crate) read: Reader,
}
