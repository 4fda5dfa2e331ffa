//! Every shader parses and validates with naga, and every KernelId entry point exists (no GPU needed).

use medgpu::kernels::{Family, KernelId};

fn module(f: Family) -> naga::Module {
    let src = f.source();
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}: {}", f.file(), e.emit_to_string(&src)));
    let mut v =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    v.validate(&module).unwrap_or_else(|e| panic!("{}: {}", f.file(), e.emit_to_string(&src)));
    module
}

#[test]
fn every_shader_validates() {
    for f in Family::ALL {
        module(f);
    }
}

#[test]
fn every_kernel_entry_point_exists_as_compute() {
    for k in KernelId::ALL {
        let m = module(k.family());
        let e = m.entry_points.iter().find(|e| e.name == k.entry_point());
        let e = e.unwrap_or_else(|| {
            panic!("{:?}: no entry point {} in {}", k, k.entry_point(), k.family().file())
        });
        assert_eq!(e.stage, naga::ShaderStage::Compute, "{:?}", k);
    }
}

#[test]
fn every_compute_entry_point_has_a_kernel_id() {
    for f in Family::ALL {
        for e in module(f).entry_points {
            assert!(
                KernelId::ALL.iter().any(|k| k.family() == f && k.entry_point() == e.name),
                "{} in {} has no KernelId row",
                e.name,
                f.file()
            );
        }
    }
}

/// Every loop ends: each is a `for` whose counter rises by a positive
/// constant while below (or at) a bound, or halves while above 0 (no `loop` or
/// `while`). The kernels rely on it to run without naga's loop counter
/// (`kernels::runtime_checks`). Counters stay far below 2^32, since the
/// bounds are sizes of buffers, so they cannot wrap.
#[test]
fn every_loop_ends() {
    let mut loops = 0;
    for f in Family::ALL {
        let src = f.source();
        let code: Vec<&str> = src.lines().map(|l| l.split("//").next().unwrap_or("")).collect();
        let code = code.join("\n");
        for word in ["loop", "while"] {
            let found = code.match_indices(word).any(|(at, _)| {
                let before = code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
                let after =
                    code[at + word.len()..].chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_');
                !before && !after
            });
            assert!(!found, "{}: a `{word}` statement", f.file());
        }
        let mut rest = code.as_str();
        while let Some(at) = rest.find("for (") {
            let header = &rest[at + 5..];
            let end = closing_paren(header);
            let parts: Vec<String> = header[..end]
                .split(';')
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            assert_eq!(parts.len(), 3, "{}: for ({})", f.file(), &header[..end]);
            let name = parts[0].strip_prefix("var ").and_then(|p| p.split(' ').next()).unwrap_or("");
            assert!(!name.is_empty(), "{}: for ({}) declares no counter", f.file(), &header[..end]);
            let ends = rising(name, &parts[1], &parts[2]) || halving(name, &parts[1], &parts[2]);
            assert!(ends, "{}: for ({}) may not end", f.file(), parts.join("; "));
            loops += 1;
            rest = &header[end..];
        }
    }
    // (a parser that found no headers would pass everything)
    assert!(loops > 100, "only {loops} loop headers found");
}

/// Offset of the `)` that closes a parenthesis opened just before `s`.
fn closing_paren(s: &str) -> usize {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unclosed parenthesis in: {s}");
}

/// `name < bound` (or `<=`) with `name = name + step`, the step a positive integer,
/// an upper-case constant, or `select` between two positive integers.
fn rising(name: &str, cond: &str, update: &str) -> bool {
    let Some(step) = update.strip_prefix(&format!("{name} = {name} + ")) else {
        return false;
    };
    let positive = |s: &str| s.trim_end_matches('u').parse::<u32>().is_ok_and(|v| v > 0);
    let constant =
        !step.is_empty() && step.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let select = step.strip_prefix("select(").is_some_and(|s| {
        let args: Vec<&str> = s.split(", ").collect();
        args.len() == 3 && positive(args[0]) && positive(args[1])
    });
    let bounded = cond.starts_with(&format!("{name} < ")) || cond.starts_with(&format!("{name} <= "));
    bounded && (positive(step) || constant || select)
}

/// `name > 0` with `name = name >> 1u` or `name = name / 2u`.
fn halving(name: &str, cond: &str, update: &str) -> bool {
    let halves =
        [format!("{name} = {name} >> 1u"), format!("{name} = {name} / 2u")].contains(&update.to_string());
    halves && [format!("{name} > 0u"), format!("{name} > 0")].contains(&cond.to_string())
}
