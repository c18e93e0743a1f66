//! `graphite` evaluates Graphite render API targets (`sumSeries(a.*.b)`, `seriesByTag(…)`)
//! over fixed-step series: the target parser, the function library and the JSON answer. It
//! never sees HTTP or storage; the server fetches what `FetchSpec`s ask for.
