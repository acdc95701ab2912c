//! Pick the method for a plan: the first preferred method that works between
//! the source's filesystem and the destination's. A file on another
//! filesystem mounted inside the source (a nested btrfs subvolume, a tmpfs)
//! is that file's own case: it falls back alone, as any odd file does, and
//! never turns a method off for the rest of the tree.

use crate::destination::Destination;
use crate::error::Result;
use crate::method::Method;
use crate::plan::Plan;
use crate::probe::{Outcome, ProbePair, Sample};
use crate::report::Skipped;

#[derive(Debug)]
pub struct Choice {
    /// The chosen method, then the allowed methods after it that also work,
    /// for a single file that unexpectedly cannot use the chosen one.
    pub methods: Vec<Method>,
    /// Preferred methods passed over, with the errno that ruled each out.
    pub skipped: Vec<Skipped>,
}

pub fn choose(plan: &Plan, destination: &Destination, preference: &[Method]) -> Result<Choice> {
    // The source root's filesystem, or, when it holds no file, the first
    // file's (a tree whose files all sit on a mount inside it).
    let dev = match plan.sample_file(plan.dev) {
        Some(_) => plan.dev,
        None => plan.files.first().map_or(plan.dev, |file| file.dev),
    };
    // No files: directories and symlinks are created the same way whatever
    // the method, but a strict caller still learns whether it could work.
    let pairs = [ProbePair {
        src_sample: plan
            .sample_file(dev)
            .map(|file| Sample::new(&plan.src_root, &file.rel)),
        src_dev: dev,
        dst_dir: &destination.probe_dir,
        dst_dev: destination.dev,
        caller: (&plan.src_root, &destination.root),
    }];

    let mut methods = Vec::new();
    let mut skipped = Vec::new();
    for &method in preference {
        match first_impossible(&pairs, method)? {
            None => methods.push(method),
            Some(errno) if methods.is_empty() => skipped.push(Skipped::of(method, errno)),
            Some(_) => {}
        }
    }
    if methods.is_empty() {
        let first = &skipped[0];
        return Err(first
            .method
            .impossible(first.errno)
            .with_paths(&plan.src_root, &destination.root));
    }
    Ok(Choice { methods, skipped })
}

fn first_impossible(pairs: &[ProbePair], method: Method) -> Result<Option<i32>> {
    for pair in pairs {
        if let Outcome::Impossible(errno) = pair.outcome(method)? {
            return Ok(Some(errno));
        }
    }
    Ok(None)
}
