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
    for &f in Family::ALL {
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
    for &f in Family::ALL {
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
    for &f in Family::ALL {
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

/// The bindings and override constants each entry point of a family
/// declares: (the largest group-0 binding the entry point reads or writes,
/// the bindings it writes, the largest the module declares, every override
/// name of the module, those without a default).
struct Declared {
    max_used_binding: u32,
    written: Vec<u32>,
    declared_bindings: u32,
    overrides: Vec<String>,
    required: Vec<String>,
}

fn declared(k: KernelId) -> Declared {
    let src = k.family().source();
    let m = naga::front::wgsl::parse_str(&src).unwrap();
    let mut v =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    let info = v.validate(&m).unwrap();
    let ep = m.entry_points.iter().position(|e| e.name == k.entry_point()).unwrap();
    let uses = info.get_entry_point(ep);
    let mut max_used_binding = 0;
    let mut declared_bindings = 0;
    let mut written = Vec::new();
    for (h, g) in m.global_variables.iter() {
        let Some(b) = &g.binding else { continue };
        assert_eq!(b.group, 0, "{}: binding in group {}", k.entry_point(), b.group);
        declared_bindings = declared_bindings.max(b.binding);
        if !uses[h].is_empty() {
            max_used_binding = max_used_binding.max(b.binding);
        }
        if uses[h].contains(naga::valid::GlobalUse::WRITE) && b.binding > 0 {
            written.push(b.binding);
        }
    }
    let names = |all: bool| -> Vec<String> {
        m.overrides
            .iter()
            .filter(|(_, o)| all || o.init.is_none())
            .filter_map(|(_, o)| o.name.clone())
            .collect()
    };
    Declared { max_used_binding, written, declared_bindings, overrides: names(true), required: names(false) }
}

/// Every call the compiler makes, for every model type, mode and variant
/// set, binds every binding its entry point uses and none its module does
/// not declare (calls of one layout may bind a trailing buffer only a
/// sibling entry point reads), never binds the data set or the batch where
/// the kernel writes, and sets only override constants its module
/// declares, every one without a default among them: a dropped, added or
/// misplaced binding is caught without a GPU.
#[test]
fn every_call_binds_what_its_entry_point_declares() {
    use medgpu::graph::autodiff::Ref;
    use medgpu::graph::{Act, Cell, LossKind, Mode, OptimizerConfig, Program, TargetSource};
    use medgpu::kernels::{TextureMatmul, TiledMatmul, Variants};
    use medgpu::models::{Head, ModelSpec};
    use std::collections::{BTreeSet, HashMap};

    let classify = Head { outputs: 3, loss: LossKind::SoftmaxCrossEntropy, target: TargetSource::Targets };
    let binary = Head { outputs: 1, loss: LossKind::BceWithLogits, target: TargetSource::Targets };
    let recon = |n| Head { outputs: n, loss: LossKind::Mse, target: TargetSource::Features };
    let models: Vec<(&str, ModelSpec, usize, Head)> = vec![
        ("mlp", ModelSpec::mlp(&[16, 8], Act::Relu, 0.2), 10, binary),
        ("autoencoder", ModelSpec::autoencoder(&[6, 3], Act::Tanh), 10, recon(10)),
        ("cnn", ModelSpec::cnn([1, 8, 8]), 64, classify),
        ("conv autoencoder", ModelSpec::conv_autoencoder([1, 8, 8]), 64, recon(64)),
        ("lstm", ModelSpec::lstm(&[16], 12), 36, binary),
        ("lstm per step", ModelSpec::lstm(&[72], 4), 12, binary),
        ("bidirectional lstm", ModelSpec::lstm(&[8], 12).bidirectional(), 36, classify),
        ("lstm autoencoder", ModelSpec::lstm_autoencoder(&[8], 12), 24, recon(24)),
        ("gru", ModelSpec::recurrent(Cell::Gru, &[16], 12), 36, binary),
        ("gru per step", ModelSpec::recurrent(Cell::Gru, &[72], 4), 12, binary),
        ("rnn", ModelSpec::recurrent(Cell::Elman(Act::Tanh), &[8], 12), 12, binary),
    ];
    let tiled = Some(TiledMatmul { min_macs: 0, min_edge: 0 });
    let sg = Variants { subgroup8: true, subgroup_exactly8: true, ..Variants::default() };
    let variant_sets = [
        Variants::default(),
        sg,
        Variants { rnn_lanes: true, ..sg },
        Variants { tiled_matmul: tiled, ..Variants::default() },
        Variants { texture_matmul: Some(TextureMatmul { min_macs: 0, min_blocks: 0, max_edge: 8192 }), ..sg },
    ];
    let modes = [
        Mode::Train(OptimizerConfig::adam(1e-3)),
        Mode::Train(OptimizerConfig { clip_grad_norm: Some(1.0), ..OptimizerConfig::sgd(0.1, 0.9) }),
        Mode::Inference,
        Mode::Gradients { input_grad: true },
        Mode::InputGradient,
    ];
    let limits = wgpu::Limits::default();
    let mut decl: HashMap<KernelId, Declared> = HashMap::new();
    let mut checked = BTreeSet::new();
    for (what, spec, inputs, head) in &models {
        for training in [true, false] {
            let g = spec.build(*inputs, *head, 5, training, 1).unwrap();
            let params = medgpu::graph::ParamStore::arena_len(&g);
            for mode in modes {
                if !training && !matches!(mode, Mode::Inference) {
                    continue;
                }
                for v in variant_sets {
                    let calls = Program::planned_calls(&g, mode, 1, params, &limits, v).unwrap();
                    for c in calls {
                        // the texture matmuls' layout (textures, then buffers) is built from
                        // the same operands by the pipeline cache, not bound one to one
                        if matches!(c.kernel.family(), Family::MatmulTex | Family::MatmulPack) {
                            continue;
                        }
                        let d = decl.entry(c.kernel).or_insert_with(|| declared(c.kernel));
                        let at = format!("{what} {mode:?} {v:?}: {}", c.kernel.entry_point());
                        assert!(
                            c.bindings.len() as u32 <= d.declared_bindings,
                            "{at}: more bindings than declared"
                        );
                        assert!(
                            d.max_used_binding <= c.bindings.len() as u32,
                            "{at}: an unbound binding is used"
                        );
                        let set: Vec<&str> = c.overrides.iter().map(|(n, _)| *n).collect();
                        for n in &set {
                            assert!(
                                d.overrides.iter().any(|o| o == n),
                                "{at}: no override '{n}' in the shader"
                            );
                        }
                        for r in &d.required {
                            assert!(set.contains(&r.as_str()), "{at}: override '{r}' (no default) not set");
                        }
                        // the data set and the batch's row ids are never written
                        for w in &d.written {
                            let r = c.bindings[*w as usize - 1];
                            assert!(
                                !matches!(r, Ref::Features | Ref::Targets | Ref::Batch),
                                "{at}: writes {r:?}"
                            );
                        }
                        checked.insert(c.kernel.entry_point());
                    }
                }
            }
        }
    }
    assert!(checked.len() >= 50, "only {} kernels were reached: {checked:?}", checked.len());
}
