//! The sections of BENCHMARKS.md that other benchmarks write (remote
//! messaging, the cluster tools) with their notes by hand: a regeneration
//! keeps every `## ` section of the file it replaces whose heading it does
//! not write itself, in their order, after its own.

use std::collections::HashSet;

/// `generated`, then every `## ` section of `old` whose heading `generated`
/// does not have.
pub(crate) fn keep_other_sections(old: &str, generated: String) -> String {
    let ours: HashSet<&str> = generated.lines().filter(|l| l.starts_with("## ")).collect();
    let mut kept = String::new();
    let mut keeping = false;
    for line in old.split_inclusive('\n') {
        if line.starts_with("## ") {
            keeping = !ours.contains(line.trim_end());
        }
        if keeping {
            kept.push_str(line);
        }
    }
    if kept.is_empty() {
        return generated;
    }
    let mut md = generated.trim_end().to_owned();
    md.push_str("\n\n");
    md.push_str(&kept);
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_the_generator_does_not_write_are_kept_in_order() {
        let old = "# B\n\n## Crash\nold figures\n\n## Remote messaging\nr\n### Notes by hand\nn\n\n## Cluster tools: singleton\ns\n";
        let new = "# B\n\n## Crash\nnew figures\n".to_owned();
        let md = keep_other_sections(old, new);
        assert_eq!(
            md,
            "# B\n\n## Crash\nnew figures\n\n## Remote messaging\nr\n### Notes by hand\nn\n\n## Cluster tools: singleton\ns\n"
        );
        assert_eq!(
            keep_other_sections("## Crash\nx\n", "## Crash\ny\n".into()),
            "## Crash\ny\n"
        );
    }
}
