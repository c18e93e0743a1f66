//! Series-wide evaluation: MetricsQL's transforms (`running_*`, `range_*`, `keep_*_value`,
//! `interpolate`, `remove_resets`, `smooth_exponential`) and range aggregations (`topk_avg`
//! ...) need their argument's value at every step of the grid they are evaluated on: the
//! query's steps, a subquery's, or an instant query's one step. The first step that asks
//! evaluates the argument over the whole grid and keeps every step's result; later steps take
//! theirs (`Evaluator::series_wide_at`).

use std::collections::HashMap;

use tsdb::Labels;

use super::eval::{Elem, Evaluator, StepValue, SAME_LABELSET};
use super::Error;
use crate::ast::Expr;

/// The steps an expression is evaluated at: `first_ms`, `first_ms + step_ms`, … `last_ms`
/// (`step_ms` 0: the one step `first_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grid {
    first_ms: i64,
    last_ms: i64,
    step_ms: i64,
}

impl Grid {
    /// The grid from `first_ms` in `step_ms` steps up to `last_ms` at most.
    pub(super) fn new(first_ms: i64, last_ms: i64, step_ms: i64) -> Grid {
        if step_ms <= 0 || last_ms <= first_ms {
            return Grid { first_ms, last_ms: first_ms, step_ms: 0 };
        }
        Grid { first_ms, last_ms: first_ms + (last_ms - first_ms) / step_ms * step_ms, step_ms }
    }

    fn index_of(&self, t: i64) -> Option<usize> {
        if t < self.first_ms || t > self.last_ms {
            return None;
        }
        if self.step_ms == 0 {
            return Some(0);
        }
        let offset = t - self.first_ms;
        if offset % self.step_ms != 0 {
            return None;
        }
        usize::try_from(offset / self.step_ms).ok()
    }

    fn timestamps(&self) -> Vec<i64> {
        if self.step_ms == 0 {
            return vec![self.first_ms];
        }
        (0..=(self.last_ms - self.first_ms) / self.step_ms).map(|i| self.first_ms + i * self.step_ms).collect()
    }
}

/// One series-wide node's results on one grid; each step's vector is taken once.
pub(super) struct StepResults {
    grid: Grid,
    steps: Vec<Option<Vec<Elem>>>,
}

/// Per series-wide node (by address), its results on the grid it was last evaluated on.
pub(super) type SeriesWideResults = HashMap<usize, StepResults>;

impl Evaluator<'_> {
    /// Node `node`'s vector at step `t`: taken from its results on the current grid, or
    /// computed for every step of that grid by `compute` (given the grid's timestamps) first.
    /// A step off the grid (or asked for twice) is computed again.
    pub(super) fn series_wide_at(&self, node: usize, t: i64, compute: impl FnOnce(&[i64]) -> Result<Vec<Vec<Elem>>, Error>) -> Result<Vec<Elem>, Error> {
        let current = self.grid.get();
        let (grid, index) = match current.index_of(t) {
            Some(index) => (current, index),
            None => (Grid::new(t, t, 0), 0),
        };
        if let Some(results) = self.series_wide.borrow_mut().get_mut(&node) {
            if results.grid == grid {
                if let Some(vector) = results.steps.get_mut(index).and_then(Option::take) {
                    return Ok(vector);
                }
            }
        }
        // Not borrowed while computing: the argument may hold series-wide nodes of its own.
        let mut steps: Vec<Option<Vec<Elem>>> = compute(&grid.timestamps())?.into_iter().map(Some).collect();
        let here = steps.get_mut(index).and_then(Option::take).unwrap_or_default();
        self.series_wide.borrow_mut().insert(node, StepResults { grid, steps });
        Ok(here)
    }

    /// Runs `inner` with `grid` as the grid series-wide nodes evaluate on (a subquery's steps).
    pub(super) fn on_grid<T>(&self, grid: Grid, inner: impl FnOnce() -> T) -> T {
        let outer = self.grid.replace(grid);
        let result = inner();
        self.grid.set(outer);
        result
    }
}

/// One series' float values at each step of a grid (NaN where it has none).
pub(super) struct Column {
    pub labels: Labels,
    pub drop_name: bool,
    pub values: Vec<f64>,
}

/// `arg` evaluated at every step of `timestamps`, its float elements gathered per label set
/// in order of first appearance (a NaN value is no value, as in VictoriaMetrics); and whether
/// a histogram element was left out.
pub(super) fn columns(ev: &Evaluator<'_>, arg: &Expr, timestamps: &[i64]) -> Result<(Vec<Column>, bool), Error> {
    let mut columns: Vec<Column> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut points = 0usize;
    let mut histograms_left_out = false;
    for (step, &t) in timestamps.iter().enumerate() {
        ev.check_cancelled()?;
        let StepValue::Vector(vector) = ev.eval(arg, t)? else {
            return Err(Error::Execution("expected an instant vector argument".into()));
        };
        points += vector.len();
        if points > ev.options.max_samples {
            return Err(Error::TooManySamples);
        }
        for e in vector {
            if e.histogram.is_some() {
                histograms_left_out = true;
                continue;
            }
            if e.value.is_nan() {
                continue;
            }
            let i = *index.entry(e.labels.clone()).or_insert_with(|| {
                columns.push(Column { labels: e.labels.clone(), drop_name: false, values: vec![f64::NAN; timestamps.len()] });
                columns.len() - 1
            });
            let column = &mut columns[i];
            if !column.values[step].is_nan() {
                return Err(Error::Execution(SAME_LABELSET.into()));
            }
            column.values[step] = e.value;
            column.drop_name |= e.drop_name;
        }
    }
    Ok((columns, histograms_left_out))
}

/// A scalar argument's value at every step of `timestamps`.
pub(super) fn scalar_steps(ev: &Evaluator<'_>, arg: &Expr, timestamps: &[i64]) -> Result<Vec<f64>, Error> {
    timestamps
        .iter()
        .map(|&t| match ev.eval(arg, t)? {
            StepValue::Scalar(v) => Ok(v),
            _ => Err(Error::Execution("expected a scalar argument".into())),
        })
        .collect()
}

/// Each step's vector from `columns` (their values that are not NaN), `steps` of them.
pub(super) fn step_vectors(columns: &[Column], steps: usize) -> Vec<Vec<Elem>> {
    (0..steps)
        .map(|step| {
            columns
                .iter()
                .filter_map(|c| c.values.get(step).copied().filter(|v| !v.is_nan()).map(|v| Elem::new(c.labels.clone(), v, c.drop_name)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_ends_at_its_last_step_and_finds_steps_on_it() {
        let grid = Grid::new(10, 45, 10);
        assert_eq!(grid.timestamps(), vec![10, 20, 30, 40]);
        assert_eq!(grid.index_of(30), Some(2));
        assert_eq!(grid.index_of(35), None);
        assert_eq!(grid.index_of(50), None);
        let one = Grid::new(7, 7, 0);
        assert_eq!(one.timestamps(), vec![7]);
        assert_eq!(one.index_of(7), Some(0));
    }
}
