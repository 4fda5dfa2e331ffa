//! Library errors name options as the library's fields in backticks
//! (`` `batch_size` ``); the command line shows them as its flags
//! (`--batch-size`).

use std::collections::BTreeSet;

/// Every long flag of `command` and its subcommands, without the dashes.
pub fn long_flags(command: &clap::Command) -> BTreeSet<String> {
    let mut out: BTreeSet<String> =
        command.get_arguments().filter_map(|a| a.get_long().map(String::from)).collect();
    for sub in command.get_subcommands() {
        out.extend(long_flags(sub));
    }
    out
}

/// `message` with each `` `option` `` that is one of `flags` (underscores
/// read as dashes) written as `--option`; other backticked words stay.
pub fn in_flags(message: &str, flags: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else { break };
        let word = &rest[open + 1..open + 1 + len];
        let flag = word.replace('_', "-");
        out.push_str(&rest[..open]);
        if flags.contains(&flag) {
            out.push_str("--");
            out.push_str(&flag);
        } else {
            out.push_str(&rest[open..open + len + 2]);
        }
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backticked_options_become_flags_and_other_words_stay() {
        let flags: BTreeSet<String> = ["batch-size", "target", "max-gpu-mem"].map(String::from).into();
        let msg = "lower `batch_size`, or raise `max_gpu_mem`; pass `target` COLUMN; see `medgpu devices`";
        assert_eq!(
            in_flags(msg, &flags),
            "lower --batch-size, or raise --max-gpu-mem; pass --target COLUMN; see `medgpu devices`"
        );
        assert_eq!(in_flags("an odd ` backtick", &flags), "an odd ` backtick");
        assert_eq!(in_flags("", &flags), "");
    }
}
