//! Binary operators with a histogram operand: the pairings Prometheus defines (histogram
//! plus or minus histogram, scaled or trimmed by a float, compared for equality), and the
//! annotation every other pairing gives.

use std::sync::Arc;

use tsdb::{FloatHistogram, Labels};

use super::super::annotations::{Annotation, Operation};
use super::super::eval::Elem;
use super::super::native_histogram as nh;
use crate::ast::BinaryOp;

/// One operand of a binary operator: a float or a histogram.
#[derive(Clone, Copy)]
pub(in crate::engine) enum Operand<'a> {
    Float(f64),
    Histogram(&'a Arc<FloatHistogram>),
}

impl<'a> Operand<'a> {
    pub(in crate::engine) fn of(e: &'a Elem) -> Operand<'a> {
        match &e.histogram {
            Some(h) => Operand::Histogram(h),
            None => Operand::Float(e.value),
        }
    }
}

/// The value of `lhs op rhs` where at least one side is a histogram, and the annotation the
/// pair gives. No value when the pairing is not defined (e.g. histogram + float, float /
/// histogram, `<` between histograms: an info), the histograms cannot be combined or their
/// counter reset hints conflict (a warning), or a filtering comparison drops the element.
/// The value is the element's new one: a float (for `bool` comparisons) or a histogram.
pub(in crate::engine) fn histogram_binary(op: BinaryOp, lhs: Operand<'_>, rhs: Operand<'_>, return_bool: bool) -> (Option<BinaryValue>, Option<Annotation>) {
    use Operand::{Float, Histogram};
    let histogram = |h: FloatHistogram| (Some(BinaryValue::Histogram(Arc::new(h))), None);
    let combined = |result: Result<FloatHistogram, nh::HistogramError>, notes: nh::Notes, operation: Operation| match result {
        Err(_) => (None, Some(Annotation::IncompatibleBucketLayout(op))),
        Ok(_) if notes.counter_reset_collision => (None, Some(Annotation::CounterResetCollision(operation))),
        Ok(h) => (Some(BinaryValue::Histogram(Arc::new(h))), notes.custom_bounds_reconciled.then_some(Annotation::MismatchedCustomBuckets(operation))),
    };
    let kind = |o: Operand<'_>| if matches!(o, Histogram(_)) { "histogram" } else { "float" };
    match (op, lhs, rhs) {
        // `add` keeps the operands' reconciled hint, `sub` makes a gauge (both compact).
        (BinaryOp::Add, Histogram(a), Histogram(b)) => {
            let mut notes = nh::Notes::default();
            combined(nh::add_noting(a, b, &mut notes), notes, Operation::Addition)
        }
        (BinaryOp::Sub, Histogram(a), Histogram(b)) => {
            let mut notes = nh::Notes::default();
            combined(nh::sub_noting(a, b, &mut notes), notes, Operation::Subtraction)
        }
        (BinaryOp::Mul, Histogram(h), Float(f)) | (BinaryOp::Mul, Float(f), Histogram(h)) => histogram(nh::compact(&nh::mul(h, f))),
        (BinaryOp::Div, Histogram(h), Float(f)) => histogram(nh::compact(&nh::div(h, f))),
        (BinaryOp::TrimUpper, Histogram(h), Float(f)) => histogram(nh::trim(h, f, true)),
        (BinaryOp::TrimLower, Histogram(h), Float(f)) => histogram(nh::trim(h, f, false)),
        (BinaryOp::Eq | BinaryOp::Ne, Histogram(a), Histogram(b)) => {
            let equal = nh::equals(a, b);
            let holds = if op == BinaryOp::Eq { equal } else { !equal };
            if return_bool {
                (Some(BinaryValue::Float(f64::from(u8::from(holds)))), None)
            } else {
                (holds.then(|| BinaryValue::Histogram(a.clone())), None)
            }
        }
        _ => (None, Some(Annotation::IncompatibleTypes { lhs: kind(lhs), op, rhs: kind(rhs) })),
    }
}

/// What a binary operator gives for one pair of operands.
pub(in crate::engine) enum BinaryValue {
    Float(f64),
    Histogram(Arc<FloatHistogram>),
}

impl BinaryValue {
    pub(in crate::engine) fn into_elem(self, labels: Labels, drop_name: bool) -> Elem {
        match self {
            BinaryValue::Histogram(h) => Elem::with_histogram(labels, h, drop_name),
            BinaryValue::Float(v) => Elem::new(labels, v, drop_name),
        }
    }
}
