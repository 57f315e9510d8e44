//! Per-pixel min/avg/max of many series ([`Downsampler`]), and the typed column views it
//! reads numbers and series keys from.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, PrimitiveArray, StringArray};

use super::*;

/// Per-pixel min/avg/max of many series over `[from, to)`.
pub struct Downsampler {
    pub(super) from_us: i64,
    pub(super) to_us: i64,
    pub(super) bucket_us: i64,
    pub(super) width: usize,
    /// Per series: min, max, sum and count per bucket.
    pub(super) series: Vec<Acc>,
    pub(super) index: HashMap<(String, usize), usize>,
}

pub(super) struct Acc {
    key: String,
    column: usize,
    min: Vec<f64>,
    max: Vec<f64>,
    sum: Vec<f64>,
    n: Vec<u32>,
}

impl Downsampler {
    pub fn new(from_us: i64, to_us: i64, width: usize) -> Downsampler {
        let width = width.max(1);
        let span = (to_us - from_us).max(1);
        let bucket_us = ((span + width as i64 - 1) / width as i64).max(1);
        Downsampler {
            from_us,
            to_us,
            bucket_us,
            width: usize::try_from((span + bucket_us - 1) / bucket_us).unwrap_or(width),
            series: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The accumulator of column `column` of series `key`.
    pub fn series(&mut self, key: &str, column: usize) -> usize {
        if let Some(&i) = self.index.get(&(key.to_string(), column)) {
            return i;
        }
        let w = self.width;
        self.series.push(Acc {
            key: key.to_string(),
            column,
            min: vec![f64::INFINITY; w],
            max: vec![f64::NEG_INFINITY; w],
            sum: vec![0.0; w],
            n: vec![0; w],
        });
        self.index.insert((key.to_string(), column), self.series.len() - 1);
        self.series.len() - 1
    }

    /// Adds what `other` (over the same range and width) accumulated.
    pub fn merge(&mut self, other: Downsampler) {
        for a in other.series {
            let i = self.series(&a.key, a.column);
            let b = &mut self.series[i];
            for k in 0..b.n.len().min(a.n.len()) {
                if a.n[k] > 0 {
                    b.n[k] += a.n[k];
                    b.sum[k] += a.sum[k];
                    b.min[k] = b.min[k].min(a.min[k]);
                    b.max[k] = b.max[k].max(a.max[k]);
                }
            }
        }
    }

    /// The bucket of `ts_us`; `None` outside the range.
    #[inline]
    pub fn bucket(&self, ts_us: i64) -> Option<usize> {
        if ts_us < self.from_us || ts_us >= self.to_us {
            return None;
        }
        Some(((ts_us - self.from_us) / self.bucket_us) as usize)
    }

    #[inline]
    pub fn add(&mut self, series: usize, bucket: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        let a = &mut self.series[series];
        if let Some(n) = a.n.get_mut(bucket) {
            *n += 1;
            a.sum[bucket] += v;
            a.min[bucket] = a.min[bucket].min(v);
            a.max[bucket] = a.max[bucket].max(v);
        }
    }

    /// The buckets with a value in some series; each series (sorted by key, then `columns`'
    /// order) with `None` where it had none.
    pub fn finish(self, columns: &[&'static str], unit: impl Fn(&str) -> &'static str) -> (i64, Vec<i64>, Vec<Series>) {
        let used: Vec<usize> = (0..self.width)
            .filter(|&b| self.series.iter().any(|s| s.n[b] > 0))
            .collect();
        let t_us = used.iter().map(|&b| self.from_us + b as i64 * self.bucket_us).collect();
        let mut series: Vec<Series> = self
            .series
            .into_iter()
            .map(|a| {
                let pick = |f: &dyn Fn(usize) -> f64| -> Vec<Option<f64>> {
                    used.iter().map(|&b| (a.n[b] > 0).then(|| f(b))).collect()
                };
                let column = columns.get(a.column).copied().unwrap_or("");
                Series {
                    min: pick(&|b| a.min[b]),
                    avg: pick(&|b| a.sum[b] / a.n[b] as f64),
                    max: pick(&|b| a.max[b]),
                    key: a.key,
                    column,
                    unit: unit(column),
                }
            })
            .collect();
        let order = |c: &str| columns.iter().position(|x| *x == c);
        series.sort_by(|a, b| natural(&a.key, &b.key).then(order(a.column).cmp(&order(b.column))));
        (self.bucket_us, t_us, series)
    }
}

/// `cpu2` before `cpu10`: digit runs compare as numbers.
pub(super) fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut num: Option<u64> = None;
        for c in s.chars() {
            match c.to_digit(10) {
                Some(d) => num = Some(num.unwrap_or(0).saturating_mul(10).saturating_add(d as u64)),
                None => {
                    if let Some(n) = num.take() {
                        out.push((std::mem::take(&mut text), n));
                    }
                    text.push(c);
                }
            }
        }
        out.push((text, num.unwrap_or(0)));
        out
    };
    split(a).cmp(&split(b))
}

/// A column read as numbers.
pub(super) enum Num<'a> {
    F64(&'a PrimitiveArray<Float64Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
}

impl<'a> Num<'a> {
    pub(super) fn of(a: &'a dyn Array) -> Option<Num<'a>> {
        a.as_primitive_opt::<Float64Type>()
            .map(Num::F64)
            .or_else(|| a.as_primitive_opt::<UInt64Type>().map(Num::U64))
            .or_else(|| a.as_primitive_opt::<Int64Type>().map(Num::I64))
            .or_else(|| a.as_primitive_opt::<Int32Type>().map(Num::I32))
            .or_else(|| a.as_primitive_opt::<UInt32Type>().map(Num::U32))
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<f64> {
        macro_rules! at {
            ($a:expr) => {
                $a.is_valid(i).then(|| $a.value(i) as f64)
            };
        }
        match self {
            Num::F64(a) => at!(a),
            Num::U64(a) => at!(a),
            Num::I64(a) => at!(a),
            Num::I32(a) => at!(a),
            Num::U32(a) => at!(a),
        }
    }
}

/// A key column: text or an integer.
pub(super) enum KeyCol<'a> {
    Str(&'a StringArray),
    Num(Num<'a>),
}

impl KeyCol<'_> {
    pub(super) fn same(&self, a: usize, b: usize) -> bool {
        match self {
            KeyCol::Str(s) => s.is_valid(a) == s.is_valid(b) && s.value(a) == s.value(b),
            KeyCol::Num(n) => n.get(a) == n.get(b),
        }
    }

    pub(super) fn text(&self, i: usize) -> String {
        match self {
            KeyCol::Str(s) if s.is_valid(i) => s.value(i).to_string(),
            KeyCol::Num(n) => n.get(i).map(|v| format!("{v}")).unwrap_or_default(),
            _ => String::new(),
        }
    }
}
