//! Tests of [`super::encode_fit`] and the encoding types.

use super::*;
use crate::data::{builtin_raw, parse_raw_csv};

fn raw(text: &str) -> RawTable {
    parse_raw_csv(text, "t.csv").unwrap()
}

fn opts(target: &str) -> PrepareOptions {
    PrepareOptions { target: Some(target.to_string()), ..PrepareOptions::default() }
}

fn fit(text: &str, o: &PrepareOptions) -> Result<Dataset> {
    encode_fit(&raw(text), o)
}

fn fit_err(text: &str, o: &PrepareOptions) -> String {
    fit(text, o).unwrap_err().to_string()
}

fn labels(ds: &Dataset) -> Vec<String> {
    match &ds.encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
        other => panic!("not classes: {other:?}"),
    }
}

#[test]
fn breast_cancer_encodes_as_published() {
    let (r, target) = builtin_raw("breast_cancer").unwrap();
    let ds = encode_fit(&r, &opts(target.unwrap())).unwrap();
    assert_eq!((ds.rows(), ds.cols()), (569, 30));
    assert_eq!(ds.encoding.task, Task::Classify);
    assert!(ds.task_inferred);
    assert_eq!(labels(&ds), vec!["0", "1"]);
    assert_eq!(ds.encoding.num_classes(), Some(2));
    assert_eq!(ds.targets.iter().filter(|&&y| y == 1.0).count(), 212);
    // first row, first and last feature (mean_radius, worst_fractal_dimension)
    assert_eq!((ds.row(0)[0], ds.row(0)[29]), (17.99, 0.1189));
    let names = ds.encoding.feature_names();
    assert_eq!(
        (names.len(), names[0].as_str(), names[29].as_str()),
        (30, "mean_radius", "worst_fractal_dimension")
    );
    assert_eq!(ds.encoding.target.as_ref().map(|t| t.name()), Some("malignant"));
    assert_eq!(ds.lines[0], 2);
    assert_eq!(ds.source, "builtin:breast_cancer");
    assert!(ds.ids.is_empty() && ds.groups.is_empty());
}

#[test]
fn text_labels_and_numeric_sort() {
    let ds = fit("x,y\n1,M\n2,B\n3,M\n", &opts("y")).unwrap();
    assert_eq!(labels(&ds), vec!["B", "M"]);
    assert_eq!(ds.targets, vec![1.0, 0.0, 1.0]);
    assert_eq!(ds.encoding.task, Task::Classify);
    let ds = fit("x,y\n1,10\n2,2\n3,1\n4,2.0\n", &opts("y")).unwrap();
    assert_eq!(labels(&ds), vec!["1", "2", "10"]);
    assert_eq!(ds.targets, vec![2.0, 1.0, 0.0, 1.0]);
}

#[test]
fn task_inference() {
    let ds = fit("x,y\n1,0.5\n2,1.25\n3,2\n", &opts("y")).unwrap();
    assert_eq!(ds.encoding.task, Task::Regress);
    assert!(ds.task_inferred);
    assert_eq!(ds.targets, vec![0.5, 1.25, 2.0]);
    assert_eq!(ds.encoding.num_classes(), None);
    assert!(matches!(ds.encoding.target, Some(TargetEncoding::Value { .. })));
    // 21 distinct integers: too many for classes.
    let many: String = (0..21).map(|i| format!("{i},{i}\n")).collect();
    let ds = fit(&format!("x,y\n{many}"), &opts("y")).unwrap();
    assert_eq!(ds.encoding.task, Task::Regress);
    let twenty: String = (0..20).map(|i| format!("{i},{i}\n")).collect();
    let ds = fit(&format!("x,y\n{twenty}"), &opts("y")).unwrap();
    assert_eq!(ds.encoding.num_classes(), Some(20));
    // Given task overrides inference.
    let o = PrepareOptions { task: Some(Task::Regress), ..opts("y") };
    let ds = fit("x,y\n1,0\n2,1\n", &o).unwrap();
    assert_eq!(ds.encoding.task, Task::Regress);
    assert!(!ds.task_inferred);
    let e = fit_err("x,y\n1,0\n2,abc\n", &o);
    assert!(e.starts_with("t.csv:3:2:") && e.contains("\"abc\"") && e.contains("`task` classify"), "{e}");
}

#[test]
fn reconstruct_and_missing_target() {
    let o = PrepareOptions { task: Some(Task::Reconstruct), ..PrepareOptions::default() };
    let ds = fit("a,b\n1,2\n3,4\n", &o).unwrap();
    assert_eq!(ds.encoding.task, Task::Reconstruct);
    assert!(!ds.has_targets() && ds.encoding.target.is_none());
    assert_eq!(ds.cols(), 2);
    // A target is kept for evaluation but not used as a feature.
    let o = PrepareOptions { task: Some(Task::Reconstruct), ..opts("y") };
    let ds = fit("a,y\n1,0\n3,1\n", &o).unwrap();
    assert_eq!(ds.encoding.feature_names(), vec!["a"]);
    assert_eq!(ds.targets, vec![0.0, 1.0]);
    assert_eq!(ds.encoding.num_classes(), Some(2));
    // No target without reconstruct.
    let e = fit("a,b\n1,2\n", &PrepareOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Options(_)) && e.to_string().contains("`target`"), "{e}");
    // Target column not in the file.
    let e = fit_err("a,b\n1,2\n", &opts("label"));
    assert!(e.starts_with("t.csv:1:0: no column 'label'; columns are: a, b"), "{e}");
    // Missing target cell.
    let e = fit_err("a,y\n1,0\n2,NA\n3,1\n", &opts("y"));
    assert!(e.starts_with("t.csv:3:2:") && e.contains("must be removed"), "{e}");
}

#[test]
fn single_class() {
    let e = fit("a,y\n1,B\n2,B\n", &opts("y")).unwrap_err();
    assert!(matches!(e, Error::Dataset(_)), "{e}");
    let e = e.to_string();
    assert!(e.contains("'y'") && e.contains("'B'"), "{e}");
}

#[test]
fn unknown_option_columns() {
    let text = "a,b,y\n1,2,0\n3,4,1\n";
    let cases: Vec<(&str, PrepareOptions)> = vec![
        ("`features`", PrepareOptions { features: Some(vec!["zz".into()]), ..opts("y") }),
        ("`drop_columns`", PrepareOptions { drop_columns: vec!["zz".into()], ..opts("y") }),
        ("`categorical`", PrepareOptions { categorical: vec!["zz".into()], ..opts("y") }),
        ("`id_column`", PrepareOptions { id_column: Some("zz".into()), ..opts("y") }),
        ("`group_column`", PrepareOptions { group_column: Some("zz".into()), ..opts("y") }),
    ];
    for (flag, o) in cases {
        let e = fit(text, &o).unwrap_err();
        assert!(matches!(e, Error::Options(_)), "{e}");
        let e = e.to_string();
        assert!(e.contains(flag) && e.contains("'zz'") && e.contains("a, b, y"), "{e}");
    }
    // Conflicting roles.
    let o = PrepareOptions { features: Some(vec!["y".into()]), ..opts("y") };
    assert!(matches!(fit(text, &o), Err(Error::Options(_))));
    let o = PrepareOptions { group_column: Some("y".into()), ..opts("y") };
    assert!(matches!(fit(text, &o), Err(Error::Options(_))));
    let o = PrepareOptions { categorical: vec!["y".into()], ..opts("y") };
    let e = fit_err(text, &o);
    assert!(e.contains("not a feature column") && e.contains("target"), "{e}");
}

#[test]
fn bad_feature_cells() {
    let e = fit_err("a,b,y\n1,2,0\n3,high,1\n", &opts("y"));
    assert!(e.starts_with("t.csv:3:2:"), "{e}");
    assert!(e.contains("\"high\"") && e.contains("'b'") && e.contains("`categorical` b"), "{e}");
    let e = fit_err("a,b,y\n1,inf,0\n3,4,1\n", &opts("y"));
    assert!(e.starts_with("t.csv:2:2:") && e.contains("\"inf\"") && e.contains("finite"), "{e}");
    // Missing cells become NaN.
    let ds = fit("a,b,y\n1,,0\n NA ,n/a,1\n?,nan,0\n", &opts("y")).unwrap();
    assert_eq!(ds.features[0], 1.0);
    assert!(ds.features[1..].iter().all(|x| x.is_nan()));
}

#[test]
fn one_hot() {
    let o = PrepareOptions { categorical: vec!["sex".into()], ..opts("y") };
    let ds = fit("age,sex,y\n50,M,0\n60,F,1\n70,,1\n40,M,0\n", &o).unwrap();
    assert_eq!(ds.encoding.feature_names(), vec!["age", "sex=F", "sex=M"]);
    assert_eq!(ds.cols(), 3);
    assert_eq!(ds.row(0), &[50.0, 0.0, 1.0]);
    assert_eq!(ds.row(1), &[60.0, 1.0, 0.0]);
    assert!(ds.row(2)[0] == 70.0 && ds.row(2)[1..].iter().all(|x| x.is_nan()));
    assert_eq!(ds.source_columns, vec![1, 2]);
    assert_eq!(ds.encoding.columns[1].width(), 2);
    let json = serde_json::to_string(&ds.encoding).unwrap();
    assert!(json.contains(r#""kind":"one_hot""#) && json.contains(r#""task":"classify""#), "{json}");
    let back: Encoding = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ds.encoding);
}

#[test]
fn ids_groups_features_and_drops() {
    let text = "ID,patient,a,b,c,y\n7,p1,1,2,3,0\n8,p2,4,5,6,1\n";
    let ds = fit(text, &PrepareOptions { group_column: Some("patient".into()), ..opts("y") }).unwrap();
    assert_eq!(ds.encoding.id_column.as_deref(), Some("ID"));
    assert_eq!(ds.ids, vec!["7", "8"]);
    assert_eq!(ds.groups, vec!["p1", "p2"]);
    assert_eq!(ds.encoding.feature_names(), vec!["a", "b", "c"]);
    assert_eq!(ds.source_columns, vec![3, 4, 5]);
    let o = PrepareOptions { features: Some(vec!["c".into(), "a".into()]), ..opts("y") };
    let ds = fit(text, &o).unwrap();
    assert_eq!(ds.encoding.feature_names(), vec!["c", "a"]);
    assert_eq!(ds.row(1), &[6.0, 4.0]);
    let o = PrepareOptions { drop_columns: vec!["b".into(), "patient".into()], ..opts("y") };
    let ds = fit(text, &o).unwrap();
    assert_eq!(ds.encoding.feature_names(), vec!["a", "c"]);
    // Nothing left.
    let o = PrepareOptions { drop_columns: vec!["a".into()], ..opts("y") };
    let e = fit("id,a,y\n1,2,0\n2,3,1\n", &o).unwrap_err();
    assert!(matches!(e, Error::Dataset(_)) && e.to_string().contains("no feature columns"), "{e}");
}

#[test]
fn select_rows() {
    let ds = fit("id,a,y\nr1,1,0\nr2,2,1\nr3,3,0\n", &opts("y")).unwrap();
    let s = ds.select(&[2, 0]);
    assert_eq!(s.features, vec![3.0, 1.0]);
    assert_eq!(s.targets, vec![0.0, 0.0]);
    assert_eq!(s.ids, vec!["r3", "r1"]);
    assert_eq!(s.lines, vec![4, 2]);
    assert!(s.groups.is_empty());
    assert_eq!(s.rows(), 2);
}

#[test]
fn numeric_ids_labels_and_categories_keep_their_text() {
    let o = PrepareOptions { group_column: Some("g".into()), categorical: vec!["c".into()], ..opts("y") };
    let ds = fit("id,g,c,a,y\n17,007,1,1,10\n123456789,2,2,2,2\n5,2,1,3,2.0\n", &o).unwrap();
    assert_eq!(ds.ids, vec!["17", "123456789", "5"]);
    assert_eq!(ds.groups, vec!["007", "2", "2"]);
    assert_eq!(ds.encoding.feature_names(), vec!["c=1", "c=2", "a"]);
    assert_eq!(labels(&ds), vec!["2", "10"]);
    assert_eq!(ds.targets, vec![1.0, 0.0, 0.0]);
}

#[test]
fn digits_encode_as_ten_classes() {
    let (r, target) = builtin_raw("digits").unwrap();
    let ds = encode_fit(&r, &opts(target.unwrap())).unwrap();
    assert_eq!((ds.rows(), ds.cols()), (1797, 64));
    assert_eq!(labels(&ds), (0..10).map(|d| d.to_string()).collect::<Vec<_>>());
}

#[test]
fn several_target_columns_give_one_value_each_per_row() {
    let o = PrepareOptions { task: Some(Task::Regress), more_targets: vec!["z".into()], ..opts("y") };
    let text = "x,y,z\n1,0.5,5\n2,1.5,6\n3,2.5,7\n";
    let ds = fit(text, &o).unwrap();
    assert_eq!(ds.encoding.feature_names(), vec!["x"], "targets are never features");
    assert_eq!(ds.encoding.target_width(), 2);
    assert_eq!(ds.targets, vec![0.5, 5.0, 1.5, 6.0, 2.5, 7.0]);
    assert_eq!(ds.targets_of(&[2, 0]), vec![2.5, 7.0, 0.5, 5.0]);
    assert_eq!(ds.select(&[1]).targets, vec![1.5, 6.0]);
    // eval finds every target column by name, and says which is missing
    let again = crate::data::encode_apply(&raw("z,x,y\n9,4,3.5\n"), &ds.encoding, true).unwrap();
    assert_eq!(again.targets, vec![3.5, 9.0]);
    let e = crate::data::encode_apply(&raw("x,y\n4,3.5\n"), &ds.encoding, true).unwrap_err().to_string();
    assert!(e.contains("no column 'z'"), "{e}");
    // a bad cell in a further target names its line and column
    let e = fit_err("x,y,z\n1,0.5,5\n2,1.5,oops\n", &o);
    assert!(e.starts_with("t.csv:3:3:") && e.contains("'z'"), "{e}");
    // classes cannot sit side by side
    let o = PrepareOptions { task: Some(Task::Classify), more_targets: vec!["z".into()], ..opts("y") };
    assert!(fit_err("x,y,z\n1,a,5\n2,b,6\n", &o).contains("`task` regress"));
}
