//! Transmission chains: a case links to its source case; links never loop; generations
//! count down the chain (a case with no known source is generation 1).

use super::Refusal;
use std::collections::HashMap;

/// Checks linking `case` to `source` given the current links (case → its source).
pub fn check_link(case: i64, source: i64, links: &HashMap<i64, i64>) -> Result<(), Refusal> {
    if case == source {
        return Err(Refusal::SourceSelf);
    }
    // Walk up from the source: reaching the case means the source is downstream of it.
    let mut at = source;
    let mut steps = 0usize;
    while let Some(up) = links.get(&at) {
        if *up == case {
            return Err(Refusal::SourceCycle);
        }
        at = *up;
        steps += 1;
        if steps > links.len() {
            // A loop already stored (cannot happen through this check): refuse rather
            // than extend it.
            return Err(Refusal::SourceCycle);
        }
    }
    Ok(())
}

/// The generation of every case in `cases` (1 without a known source, the source's + 1
/// otherwise). A source outside `cases` counts as generation 1 itself.
pub fn generations(cases: &[i64], links: &HashMap<i64, i64>) -> HashMap<i64, u32> {
    let mut out: HashMap<i64, u32> = HashMap::with_capacity(cases.len());
    for &c in cases {
        if out.contains_key(&c) {
            continue;
        }
        // The path up to a case whose generation is known or that has no source.
        let mut path = vec![c];
        let mut base = 0u32;
        let mut at = c;
        while let Some(&up) = links.get(&at) {
            if let Some(g) = out.get(&up) {
                base = *g;
                break;
            }
            if path.contains(&up) || path.len() > links.len() {
                break;
            }
            path.push(up);
            at = up;
        }
        for (i, id) in path.iter().rev().enumerate() {
            out.insert(*id, base + 1 + u32::try_from(i).unwrap_or(u32::MAX));
        }
    }
    out.retain(|k, _| cases.contains(k));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_never_loop() {
        // 1 ← 2 ← 3 (3's source is 2, 2's is 1).
        let links: HashMap<i64, i64> = [(2, 1), (3, 2)].into_iter().collect();
        assert_eq!(check_link(4, 3, &links), Ok(()));
        assert_eq!(check_link(1, 3, &links), Err(Refusal::SourceCycle));
        assert_eq!(check_link(1, 2, &links), Err(Refusal::SourceCycle));
        assert_eq!(check_link(2, 2, &links), Err(Refusal::SourceSelf));
        // Re-linking 3 to 1 directly is fine.
        assert_eq!(check_link(3, 1, &links), Ok(()));
    }

    #[test]
    fn generations_count_down_the_chain() {
        let links: HashMap<i64, i64> = [(2, 1), (3, 2), (4, 2), (6, 5)].into_iter().collect();
        let g = generations(&[4, 3, 2, 1, 6, 7], &links);
        let want: HashMap<i64, u32> = [(1, 1), (2, 2), (3, 3), (4, 3), (6, 2), (7, 1)].into_iter().collect();
        assert_eq!(g, want);
    }
}
