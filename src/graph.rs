//! Generic directed-graph helpers shared by config validation (compose
//! `depends_on`) and the plan (services across repos).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// Finds a cycle reachable from `nodes`, returned as a path whose first and
/// last elements are the same node (`a → b → a`). Deterministic: nodes and
/// edges are visited in the order given.
pub fn find_cycle<N, I, F>(nodes: I, edges: F) -> Option<Vec<N>>
where
    N: Clone + Eq + Hash,
    I: IntoIterator<Item = N>,
    F: Fn(&N) -> Vec<N>,
{
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: HashMap<N, Mark> = HashMap::new();
    for start in nodes {
        if marks.contains_key(&start) {
            continue;
        }
        // Iterative DFS: (node, its successors, index of the next successor).
        let mut stack: Vec<(N, Vec<N>, usize)> = vec![(start.clone(), edges(&start), 0)];
        marks.insert(start, Mark::Visiting);
        while let Some((node, succ, idx)) = stack.last_mut() {
            if *idx == succ.len() {
                marks.insert(node.clone(), Mark::Done);
                stack.pop();
                continue;
            }
            let next = succ[*idx].clone();
            *idx += 1;
            match marks.get(&next) {
                Some(Mark::Visiting) => {
                    let from = stack.iter().position(|(n, _, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<N> =
                        stack[from..].iter().map(|(n, _, _)| n.clone()).collect();
                    cycle.push(next);
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    marks.insert(next.clone(), Mark::Visiting);
                    let succ = edges(&next);
                    stack.push((next, succ, 0));
                }
            }
        }
    }
    None
}

/// Groups `nodes` into levels: every node's dependencies are in earlier
/// levels, so each level can start in parallel once the previous one is
/// ready. Dependencies outside `nodes` are ignored. Order within a level
/// follows the order of `nodes`. Fails with a cycle.
pub fn levels<N, F>(nodes: &[N], deps: F) -> Result<Vec<Vec<N>>, Vec<N>>
where
    N: Clone + Eq + Hash,
    F: Fn(&N) -> Vec<N>,
{
    let members: HashSet<&N> = nodes.iter().collect();
    let mut level_of: HashMap<N, usize> = HashMap::new();
    let mut remaining: Vec<&N> = nodes.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|node| {
            let mut level = 0;
            for dep in deps(node) {
                if !members.contains(&dep) {
                    continue;
                }
                match level_of.get(&dep) {
                    Some(l) => level = level.max(l + 1),
                    None => return true,
                }
            }
            level_of.insert((*node).clone(), level);
            false
        });
        if remaining.len() == before {
            let cycle = find_cycle(remaining.iter().map(|n| (*n).clone()), |n| {
                deps(n)
                    .into_iter()
                    .filter(|d| members.contains(d))
                    .collect()
            });
            return Err(cycle.unwrap_or_default());
        }
    }
    let depth = level_of.values().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); depth];
    for node in nodes {
        out[level_of[node]].push(node.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(
        edges: &[(&'static str, &'static str)],
    ) -> impl Fn(&&'static str) -> Vec<&'static str> {
        let edges = edges.to_vec();
        move |n| {
            edges
                .iter()
                .filter(|(a, _)| a == n)
                .map(|(_, b)| *b)
                .collect()
        }
    }

    #[test]
    fn finds_a_cycle_as_a_closed_path() {
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        assert_eq!(find_cycle(["d", "a"], g), Some(vec!["a", "b", "c", "a"]));
    }

    #[test]
    fn self_loop_is_a_cycle() {
        assert_eq!(
            find_cycle(["a"], graph(&[("a", "a")])),
            Some(vec!["a", "a"])
        );
    }

    #[test]
    fn dag_has_no_cycle() {
        let g = graph(&[("a", "b"), ("a", "c"), ("b", "c")]);
        assert_eq!(find_cycle(["a", "b", "c"], g), None);
    }

    #[test]
    fn levels_put_dependencies_first() {
        let g = graph(&[
            ("snuba", "clickhouse"),
            ("snuba", "kafka"),
            ("web", "snuba"),
            ("web", "pg"),
        ]);
        let nodes = ["web", "snuba", "clickhouse", "kafka", "pg"];
        assert_eq!(
            levels(&nodes, g).unwrap(),
            vec![
                vec!["clickhouse", "kafka", "pg"],
                vec!["snuba"],
                vec!["web"]
            ]
        );
    }

    #[test]
    fn levels_ignore_outside_nodes_and_report_cycles() {
        let g = graph(&[("a", "zzz")]);
        assert_eq!(levels(&["a"], g).unwrap(), vec![vec!["a"]]);
        let g = graph(&[("a", "b"), ("b", "a")]);
        assert_eq!(levels(&["a", "b"], g).unwrap_err(), vec!["a", "b", "a"]);
    }
}
