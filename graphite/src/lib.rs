//! Graphite's render API as a library: target expressions are parsed, evaluated over
//! fixed-step series fetched through a caller-supplied [`Fetcher`], and written out as
//! graphite-web's JSON, csv or raw text. The crate never sees HTTP or storage.

mod aggr;
mod args;
mod catalog;
mod error;
mod eval;
mod formats;
mod functions;
mod json;
mod parse;
mod pyfmt;
mod series;
pub mod tag_expr;
mod time;

pub use catalog::functions_json;
pub use error::Error;
pub use eval::{render, EvalConfig, FetchRequest, FetchSpec, Fetcher, RawSeries};
pub use formats::{render_csv, render_raw};
pub use json::render_json;
pub use parse::{parse_target, Arg, Call, Expr};
pub use series::{series_path, Series};
pub use tag_expr::{TagExpr, TagOp};
pub use time::{parse_interval, parse_time};

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod end_to_end_tests {
    use crate::testutil::{block_on, config, FakeFetcher};
    use crate::{render, render_json};

    #[test]
    fn targets_render_to_exact_json_in_order() {
        let targets = ["alias(sumSeries(a.b.*),'total')".to_string(), "a.x.c|scale(0.5)".to_string()];
        let series = block_on(render(&targets, &config(), &FakeFetcher::standard())).unwrap();
        assert_eq!(
            render_json(&series, None),
            concat!(
                r#"[{"target":"total","tags":{"aggregatedBy":"sum","name":"sumSeries(a.b.*)"},"datapoints":"#,
                r#"[[11,1700000000],[22,1700000010],[3,1700000020],[44,1700000030],[55,1700000040]]},"#,
                r#"{"target":"scale(a.x.c,0.5)","tags":{"name":"a.x.c","scale":"0.5"},"datapoints":"#,
                r#"[[2.5,1700000000],[2,1700000010],[1.5,1700000020],[1,1700000030],[0.5,1700000040]]}]"#
            )
        );
    }
}

#[cfg(test)]
mod robustness_tests {
    //! Garbage and edge-case inputs must give errors, never panics.
    use crate::testutil::eval;
    use crate::{parse_target, parse_time, tag_expr};

    /// A small deterministic generator (64-bit LCG).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as usize
        }
    }

    #[test]
    fn random_text_never_panics() {
        let alphabet: Vec<char> = "ab.*{},[]()|='\"\\ -+01e:;_!~?é%TZ".chars().collect();
        let mut rng = Lcg(7);
        for _ in 0..20_000 {
            let len = rng.next() % 24;
            let text: String = (0..len).map(|_| alphabet[rng.next() % alphabet.len()]).collect();
            let _ = parse_target(&text);
            let _ = parse_time(&text, 1_700_000_000_000);
            let _ = tag_expr::parse(&text);
        }
    }

    #[test]
    fn every_function_with_odd_arguments_never_panics() {
        let args = [
            "", "a.b.*", "a.b.*,1", "a.b.*,0", "a.b.*,-1", "a.b.*,1e300", "a.b.*,-1e300", "a.b.*,'1ms'",
            "a.b.*,'-1d'", "a.b.*,'x'", "a.b.*,'sum'", "a.b.*,True,None", "a.b.*,a.x.c", "no.such,no.such",
            "a.b.*,'avg',2,3", "a.b.*,1,'sum',True", "1", "'x'", "a.b.*,'1y','max',True", "a.b.*,100000000",
        ];
        for name in crate::catalog::names() {
            for a in args {
                let _ = eval(&format!("{name}({a})"));
            }
        }
    }

    #[test]
    fn extreme_times_never_panic() {
        for t in ["-9223372036854775", "9223372036854775", "99999999999999999999", "now-1e17ms", "-1e300y"] {
            let _ = parse_time(t, i64::MAX);
            let _ = parse_time(t, i64::MIN);
        }
    }
}
