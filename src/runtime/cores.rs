//! Which CPUs the workers are pinned to: the ones this process is allowed to run on.
//!
//! A process started under `taskset -c 1` (or a cgroup cpuset) may only use CPU 1, and
//! `available_parallelism` then says 1. Worker `i` is pinned to the `i`-th allowed CPU
//! (wrapping), never to CPU `i` itself: pinning to absolute CPU numbers would move the worker
//! off the CPUs the operator gave the process, onto cores that other programs were given.

/// The CPUs this process may run on, ascending; from `Cpus_allowed_list` in
/// `/proc/self/status`, else `0..available_parallelism` where that file is missing or odd.
pub fn allowed() -> Vec<usize> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:").map(|l| parse_list(l.trim())))
        })
        .flatten()
        .filter(|cpus| !cpus.is_empty())
        .unwrap_or_else(|| (0..std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)).collect())
}

/// The CPU worker `id` is pinned to: the `id`-th allowed CPU, wrapping around.
pub fn for_worker(allowed: &[usize], id: usize) -> Option<usize> {
    if allowed.is_empty() {
        return None;
    }
    allowed.get(id % allowed.len()).copied()
}

/// Parses the kernel's CPU list format (`0-3,8,10-11`); `None` on anything else.
fn parse_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?);
                if hi < lo || hi - lo > 65_536 {
                    return None;
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::{for_worker, parse_list};

    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(parse_list("0-3,8,10-11"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_list("1"), Some(vec![1]));
        assert_eq!(parse_list("5,1-2"), Some(vec![1, 2, 5]));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_list("a-b"), None);
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("1,x"), None);
    }

    #[test]
    fn workers_take_the_allowed_cpus_in_turn() {
        // Under `taskset -c 1` the only worker goes to CPU 1, not CPU 0.
        assert_eq!(for_worker(&[1], 0), Some(1));
        assert_eq!(for_worker(&[2, 3], 0), Some(2));
        assert_eq!(for_worker(&[2, 3], 1), Some(3));
        assert_eq!(for_worker(&[2, 3], 2), Some(2));
        assert_eq!(for_worker(&[], 0), None);
    }

    #[test]
    fn this_process_has_at_least_one_cpu() {
        assert!(!super::allowed().is_empty());
    }
}
