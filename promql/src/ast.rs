//! The PromQL syntax tree: literals, selectors (offset, `@`, `anchored`/`smoothed`),
//! subqueries, duration expressions, unary minus, binary operators with vector matching and
//! `fill` values, aggregations and function calls.

use tsdb::Matcher;

pub use crate::duration::DurationExpr;
use crate::functions::Function;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    String(String),
    VectorSelector(VectorSelector),
    /// `selector[range]`. With a duration expression (`[5m * 2]`, `[step()]`) the expression is
    /// in `range_expr` and `range_ms` holds its value: known at parse time when it is
    /// constant, set by `Engine::prepare_*` when it uses `step()`/`range()` (0 until then).
    MatrixSelector { selector: VectorSelector, range_ms: i64, range_expr: Option<DurationExpr> },
    Subquery(Box<Subquery>),
    Paren(Box<Expr>),
    /// Unary minus (unary plus is dropped by the parser).
    Negate(Box<Expr>),
    Binary(Box<Binary>),
    Aggregate(Box<Aggregate>),
    /// A function call: where it starts (`pos`, at its name) and where each argument does;
    /// `keep_metric_names`: MetricsQL's modifier after the call, keeping `__name__` (and
    /// `__type__`/`__unit__`) on what the function gives.
    Call { func: &'static Function, args: Vec<Expr>, pos: Pos, arg_pos: Vec<Pos>, keep_metric_names: bool },
}

/// Where an expression starts in the query text, as a byte offset: what a warning or info
/// points at (Prometheus' ` (line:col)`). A position is not part of what an expression means,
/// so it never makes two expressions unequal: a printed and re-parsed query equals the original.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pos(pub u32);

impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

impl Pos {
    pub fn at(offset: usize) -> Pos {
        Pos(u32::try_from(offset).unwrap_or(u32::MAX))
    }

    /// 1-based line and column in `query` (the column counts bytes, as Prometheus'
    /// `StartPosInput` does); `None` when the offset lies outside the query.
    pub fn line_col(self, query: &str) -> Option<(usize, usize)> {
        let offset = self.0 as usize;
        let before = query.as_bytes().get(..offset)?;
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Some((line, offset - line_start + 1))
    }
}

/// `@` modifier: a fixed time, or the query's start/end (resolved at prepare time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    Time(i64),
    Start,
    End,
    /// MetricsQL's `@ (start() + d)` / `@ (end() - d)`: the query's start (or end, `end`) plus
    /// `ms` milliseconds.
    Shifted { end: bool, ms: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name, if written (it is also among `matchers`).
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// MetricsQL's `or` in label filters (`{a="1" or b="2"}`): the alternatives after the
    /// first (which is `matchers`), each with the metric name's matcher too. The selector's
    /// series are those any alternative matches, each once. Empty in PromQL.
    pub or_matchers: Vec<Vec<Matcher>>,
    /// The offset; with `offset_expr` its value (see `MatrixSelector::range_ms`).
    pub offset_ms: i64,
    /// `offset (1h / 2)`, `offset step()`: the offset as written when it is not a plain
    /// (signed) literal.
    pub offset_expr: Option<DurationExpr>,
    pub at: Option<At>,
    /// `anchored` (Prometheus 3, experimental): a range selector also reads the last sample at
    /// or before the range start, within the lookback delta, as the window's left edge.
    pub anchored: bool,
    /// `smoothed` (Prometheus 3, experimental): values at the window edges (range selectors)
    /// or at the evaluation time (instant selectors) are interpolated between neighbours.
    pub smoothed: bool,
    /// Where the selector starts.
    pub pos: Pos,
}

impl VectorSelector {
    /// The matcher sets whose series the selector unites: `matchers`, then `or_matchers`.
    pub fn alternatives(&self) -> impl Iterator<Item = &[Matcher]> {
        std::iter::once(self.matchers.as_slice()).chain(self.or_matchers.iter().map(Vec::as_slice))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subquery {
    pub expr: Expr,
    /// The range; with `range_expr` its value (see `MatrixSelector::range_ms`).
    pub range_ms: i64,
    /// The range as written when it is a duration expression.
    pub range_expr: Option<DurationExpr>,
    /// `None`: the engine's default subquery step.
    pub step_ms: Option<i64>,
    /// The step as written when it is a duration expression (`step_ms` is then `Some`).
    pub step_expr: Option<DurationExpr>,
    pub offset_ms: i64,
    /// The offset as written when it is a duration expression.
    pub offset_expr: Option<DurationExpr>,
    pub at: Option<At>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    /// `</`: a native histogram without its observations above the right operand (3.x).
    TrimUpper,
    /// `>/`: a native histogram without its observations below the right operand (3.x).
    TrimLower,
    And,
    Or,
    Unless,
    /// MetricsQL's `q if r`: `q`'s elements that `r` has a value for (a scalar `r`: all of
    /// them unless it is NaN).
    If,
    /// MetricsQL's `q ifnot r`: `q`'s elements that `r` has no value for.
    IfNot,
    /// MetricsQL's `q default r`: `q`, with each of its series' gaps on the query's grid filled
    /// from `r` (and `r` itself when `q` has no series at all).
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// `on(...)`/`ignoring(...)`, `group_left/right(...)` and `fill*(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// Label names of `on` (when `on` is true) or `ignoring`.
    pub labels: Vec<String>,
    pub on: bool,
    /// Extra labels copied from the "one" side (`group_left(a, b)`).
    pub include: Vec<String>,
    /// MetricsQL's `group_left(*)`: every label of the "one" side is copied but its name and
    /// the `on` labels.
    pub include_all: bool,
    /// MetricsQL's `prefix "p"` after the group modifier: copied labels are named `p` + their name.
    pub include_prefix: String,
    /// `fill(v)`, `fill_left(v)`, `fill_right(v)` (Prometheus 3, experimental).
    pub fill: FillValues,
}

impl VectorMatching {
    /// Plain one-to-one matching on all labels.
    pub fn one_to_one() -> VectorMatching {
        VectorMatching {
            card: Cardinality::OneToOne,
            labels: Vec::new(),
            on: false,
            include: Vec::new(),
            include_all: false,
            include_prefix: String::new(),
            fill: FillValues::default(),
        }
    }
}

/// Values standing in for a missing operand in vector matching (Prometheus' `fillValues`):
/// `lhs` from `fill_left(v)` (or `fill(v)`), `rhs` from `fill_right(v)` (or `fill(v)`).
/// After a `group_right` swap the engine applies `rhs` to the "one" side and `lhs` to the
/// "many" side, as Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FillValues {
    pub lhs: Option<f64>,
    pub rhs: Option<f64>,
}

impl FillValues {
    pub fn is_empty(&self) -> bool {
        self.lhs.is_none() && self.rhs.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    pub op: BinaryOp,
    pub lhs: Expr,
    pub rhs: Expr,
    pub return_bool: bool,
    /// Present when both sides are vectors.
    pub matching: Option<VectorMatching>,
    /// MetricsQL's `(a / b) keep_metric_names`: the result keeps the metric name an
    /// arithmetic operator (or `bool`) drops.
    pub keep_metric_names: bool,
    /// Where the expression starts (where its left operand does).
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
    Limitk,
    LimitRatio,
    // MetricsQL's aggregations of one step's values (`engine::metricsql_aggregates`).
    Median,
    Mode,
    Geomean,
    Distinct,
    Any,
    Share,
    Zscore,
    Mad,
    Sum2,
    // MetricsQL's `topk_avg(k, q, "other")` …: series ranked by a value over all steps
    // (`engine::metricsql_aggregates::range_topk_at`).
    TopkAvg,
    TopkMax,
    TopkMin,
    TopkMedian,
    TopkLast,
    BottomkAvg,
    BottomkMax,
    BottomkMin,
    BottomkMedian,
    BottomkLast,
    // MetricsQL's outlier aggregations, which keep or drop whole series by their values over
    // all steps (`engine::metricsql_aggregates::range_topk_at`).
    OutliersK,
    OutliersMad,
    OutliersIqr,
    /// MetricsQL's `quantiles("label", φ1, …, q)`: one series per φ, labelled with it.
    Quantiles,
    /// MetricsQL's `histogram(q)`: one step's values counted in VictoriaMetrics' buckets.
    Histogram,
}

impl AggregateOp {
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        Some(match name {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "count" => AggregateOp::Count,
            "group" => AggregateOp::Group,
            "stddev" => AggregateOp::Stddev,
            "stdvar" => AggregateOp::Stdvar,
            "topk" => AggregateOp::Topk,
            "bottomk" => AggregateOp::Bottomk,
            "quantile" => AggregateOp::Quantile,
            "count_values" => AggregateOp::CountValues,
            "limitk" => AggregateOp::Limitk,
            "limit_ratio" => AggregateOp::LimitRatio,
            "median" => AggregateOp::Median,
            "mode" => AggregateOp::Mode,
            "geomean" => AggregateOp::Geomean,
            "distinct" => AggregateOp::Distinct,
            "any" => AggregateOp::Any,
            "share" => AggregateOp::Share,
            "zscore" => AggregateOp::Zscore,
            "mad" => AggregateOp::Mad,
            "sum2" => AggregateOp::Sum2,
            "topk_avg" => AggregateOp::TopkAvg,
            "topk_max" => AggregateOp::TopkMax,
            "topk_min" => AggregateOp::TopkMin,
            "topk_median" => AggregateOp::TopkMedian,
            "topk_last" => AggregateOp::TopkLast,
            "bottomk_avg" => AggregateOp::BottomkAvg,
            "bottomk_max" => AggregateOp::BottomkMax,
            "bottomk_min" => AggregateOp::BottomkMin,
            "bottomk_median" => AggregateOp::BottomkMedian,
            "bottomk_last" => AggregateOp::BottomkLast,
            "outliersk" => AggregateOp::OutliersK,
            "outliers_mad" => AggregateOp::OutliersMad,
            "outliers_iqr" => AggregateOp::OutliersIqr,
            "quantiles" => AggregateOp::Quantiles,
            "histogram" => AggregateOp::Histogram,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Count => "count",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::Quantile => "quantile",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
            AggregateOp::Median => "median",
            AggregateOp::Mode => "mode",
            AggregateOp::Geomean => "geomean",
            AggregateOp::Distinct => "distinct",
            AggregateOp::Any => "any",
            AggregateOp::Share => "share",
            AggregateOp::Zscore => "zscore",
            AggregateOp::Mad => "mad",
            AggregateOp::Sum2 => "sum2",
            AggregateOp::TopkAvg => "topk_avg",
            AggregateOp::TopkMax => "topk_max",
            AggregateOp::TopkMin => "topk_min",
            AggregateOp::TopkMedian => "topk_median",
            AggregateOp::TopkLast => "topk_last",
            AggregateOp::BottomkAvg => "bottomk_avg",
            AggregateOp::BottomkMax => "bottomk_max",
            AggregateOp::BottomkMin => "bottomk_min",
            AggregateOp::BottomkMedian => "bottomk_median",
            AggregateOp::BottomkLast => "bottomk_last",
            AggregateOp::OutliersK => "outliersk",
            AggregateOp::OutliersMad => "outliers_mad",
            AggregateOp::OutliersIqr => "outliers_iqr",
            AggregateOp::Quantiles => "quantiles",
            AggregateOp::Histogram => "histogram",
        }
    }

    /// Whether the aggregation reads its argument at every step of the grid at once (MetricsQL's
    /// `topk_avg` …, the outlier aggregations and `histogram`), evaluated by
    /// `engine::metricsql_aggregates::range_topk_at`; `accepts_other_label` says which take
    /// the optional third argument.
    pub fn reads_whole_grid(self) -> bool {
        self.accepts_other_label() || matches!(self, AggregateOp::OutliersK | AggregateOp::OutliersMad | AggregateOp::OutliersIqr | AggregateOp::Histogram)
    }

    /// Whether MetricsQL reads scalars and range vectors among several arguments as series
    /// (VictoriaMetrics' aggregations over all their arguments' series: `sum(up, 1)`).
    pub fn takes_scalars_among_several(self) -> bool {
        use AggregateOp::*;
        matches!(self, Sum | Avg | Min | Max | Count | Group | Stddev | Stdvar | Median | Mode | Geomean | Distinct | Any | Share | Zscore | Mad | Sum2 | Histogram)
    }

    /// MetricsQL's `topk_avg` …: a third, optional argument names the series that sums the
    /// others (`"label"` or `"label=value"`).
    pub fn accepts_other_label(self) -> bool {
        matches!(
            self,
            AggregateOp::TopkAvg
                | AggregateOp::TopkMax
                | AggregateOp::TopkMin
                | AggregateOp::TopkMedian
                | AggregateOp::TopkLast
                | AggregateOp::BottomkAvg
                | AggregateOp::BottomkMax
                | AggregateOp::BottomkMin
                | AggregateOp::BottomkMedian
                | AggregateOp::BottomkLast
        )
    }

    /// The type of the parameter, for those that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Quantile | AggregateOp::Limitk | AggregateOp::LimitRatio => {
                Some(ValueType::Scalar)
            }
            op if op.accepts_other_label() => Some(ValueType::Scalar),
            AggregateOp::OutliersK | AggregateOp::OutliersMad => Some(ValueType::Scalar),
            AggregateOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub op: AggregateOp,
    /// The expression aggregated; MetricsQL's `avg(q1, q2, …)` holds its arguments as one call
    /// of `functions::ARGUMENT_LIST` here.
    pub expr: Expr,
    /// The parameter; `quantiles`' φs are one call of `functions::ARGUMENT_LIST`, so every walk
    /// over an aggregation's parameter visits each of them.
    pub param: Option<Expr>,
    /// The third argument of `topk_avg(k, q, "other")` … (see `AggregateOp::accepts_other_label`);
    /// for `quantiles("label", φ1, …, q)` the label its results carry the φ in.
    pub other_label: Option<String>,
    pub grouping: Vec<String>,
    pub without: bool,
    /// MetricsQL's `sum(x) by (job) limit 10`: only the first `limit` groups (in order of
    /// first appearance) are aggregated; `limit 0` is no limit, as in VictoriaMetrics.
    pub limit: Option<usize>,
    /// Where the aggregation (its operator's name), its parameter and its expression start.
    pub pos: Pos,
    pub param_pos: Pos,
    pub expr_pos: Pos,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Le)
    }

    /// Whether results stop being the metric they came from (Prometheus'
    /// `shouldDropMetricName`: the arithmetic operators).
    pub fn is_arithmetic(self) -> bool {
        matches!(self, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Pow | BinaryOp::Atan2)
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// MetricsQL's `if`, `ifnot` and `default`, which filter or fill their left operand.
    pub fn is_metricsql_filter(self) -> bool {
        matches!(self, BinaryOp::If | BinaryOp::IfNot | BinaryOp::Default)
    }

    /// Binding strength: higher binds tighter (Prometheus' table, with MetricsQL's `default`
    /// below `if`/`ifnot` below `or`).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Default => 1,
            BinaryOp::If | BinaryOp::IfNot => 2,
            BinaryOp::Or => 3,
            BinaryOp::And | BinaryOp::Unless => 4,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Le | BinaryOp::TrimUpper | BinaryOp::TrimLower => 5,
            BinaryOp::Add | BinaryOp::Sub => 6,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 7,
            BinaryOp::Pow => 8,
        }
    }

    pub fn right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Lt => "<",
            BinaryOp::Ge => ">=",
            BinaryOp::Le => "<=",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::If => "if",
            BinaryOp::IfNot => "ifnot",
            BinaryOp::Default => "default",
        }
    }
}

/// The four PromQL value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    String,
    Vector,
    Matrix,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        }
    }
}

impl Expr {
    /// Whether a step's value depends on the query's other steps (MetricsQL's whole-series
    /// transforms and range aggregations): a cache of range-query points must not serve such
    /// a query's points for another range.
    pub fn reads_other_steps(&self) -> bool {
        let here = match self {
            Expr::Call { func, .. } => crate::functions::SERIES_WIDE_FUNCTIONS.contains(&func.name),
            Expr::Aggregate(a) => a.op.reads_whole_grid(),
            Expr::Binary(b) => b.op == BinaryOp::Default,
            _ => false,
        };
        here || self.children().into_iter().any(Expr::reads_other_steps)
    }

    /// The expressions held as one by `functions::ARGUMENT_LIST`, if this is such a call.
    pub fn argument_list(&self) -> Option<&[Expr]> {
        match self {
            Expr::Call { func, args, .. } if std::ptr::eq(*func, &crate::functions::ARGUMENT_LIST) => Some(args),
            _ => None,
        }
    }

    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector { .. } => Vec::new(),
            Expr::Subquery(sq) => vec![&sq.expr],
            Expr::Paren(e) | Expr::Negate(e) => vec![e],
            Expr::Binary(b) => vec![&b.lhs, &b.rhs],
            Expr::Aggregate(a) => a.param.iter().chain(std::iter::once(&a.expr)).collect(),
            Expr::Call { args, .. } => args.iter().collect(),
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector { .. } | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(e) | Expr::Negate(e) => e.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar && b.rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call { func, .. } => func.return_type,
        }
    }
}
