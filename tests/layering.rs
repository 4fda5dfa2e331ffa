//! The library's modules depend one way (docs/DESIGN.md): a module may use
//! only modules of a lower layer. This test reads every `crate::` path in
//! src/ (outside comments) and fails on one that points up or sideways, so
//! the layering stays true as the code changes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layers from the bottom up; a module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["error", "settings"],
    &["gpu", "data"],
    // metrics draw bootstrap resamples with the data layer's generator
    &["kernels", "metrics"],
    &["graph"],
    &["models", "cpu_ref"],
    &["model"],
    &["report"],
    &["train"],
    &["api"],
    &["serve"],
    &["bench"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The source without comments (line comments, doc comments included).
fn strip_comments(src: &str) -> String {
    src.lines()
        .map(|l| match l.find("//") {
            // a `//` inside a string literal is rare in src/; cutting there only hides paths
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source file names through `crate::a` or
/// `crate::{a, b::c}`.
fn crate_modules(src: &str) -> BTreeSet<String> {
    let code = strip_comments(src);
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // top-level items of the brace group
            let (mut depth, mut item_start, mut end) = (0usize, 0usize, group.len());
            for (j, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = j;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(ident(&group[item_start..j]));
                        item_start = j + 1;
                    }
                    _ => {}
                }
            }
            out.extend(ident(&group[item_start..end]));
        } else {
            out.extend(ident(rest));
        }
    }
    out
}

fn ident(s: &str) -> Option<String> {
    let s = s.trim_start();
    let id: String = s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!id.is_empty() && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())).then_some(id)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The violations of the layer order in `src` for a file of `module`.
fn violations(module: &str, src: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!("module '{module}' has no layer: add it to LAYERS and docs/DESIGN.md")];
    };
    crate_modules(src)
        .into_iter()
        .filter(|m| m != module && m != "Error" && m != "Result")
        .filter_map(|m| match layer_of(&m) {
            Some(l) if l < own => None,
            Some(l) => Some(format!("'{module}' (layer {own}) uses '{m}' (layer {l})")),
            None => Some(format!("'{module}' uses '{m}', which has no layer")),
        })
        .collect()
}

#[test]
fn every_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_string();
        // the crate root and the command-line binary sit above every layer
        if ["lib", "main", "cli"].contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        bad.extend(violations(&module, &text).into_iter().map(|v| format!("{}: {v}", rel.display())));
    }
    assert!(files.len() > 50, "src/ was not found or is nearly empty: {} files", files.len());
    assert!(bad.is_empty(), "imports against the layer order:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_imports_that_point_up() {
    let src =
        "use crate::error::Result;\nuse crate::{gpu::Gpu, bench::kernels};\n// crate::train in a comment\n";
    assert_eq!(violations("graph", src), vec!["'graph' (layer 3) uses 'bench' (layer 10)".to_string()]);
    let inline = "fn f() { crate::train::train(); }";
    assert_eq!(violations("model", inline), vec!["'model' (layer 5) uses 'train' (layer 7)".to_string()]);
    assert!(violations("gpu", "use crate::kernels::Variants;")[0].contains("uses 'kernels'"));
    assert!(violations("data", "use crate::metrics::auc;")[0].contains("uses 'metrics'"));
    assert!(violations("gpu", "use crate::data::Dataset;")[0].contains("uses 'data'"), "same layer");
    assert!(violations("train", "use crate::{data::{Dataset, Task}, model::ModelFile};").is_empty());
}
