//! `/expand-with-exprs`: VictoriaMetrics' page that shows a query with its MetricsQL `WITH`
//! templates expanded (`promql::parser::with_templates`), as this server then evaluates it.
//! `format=json` answers VictoriaMetrics' `{"status":"success","expr":…}`; otherwise an HTML
//! form without script. A query that does not parse is a 400 naming the problem
//! (VictoriaMetrics answers it with a 200 and `"status":"error"`).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use super::params::Params;
use super::relabel_debug::escape_html;
use super::{json, json_response, ApiError};

pub fn handle(params: &Params) -> Result<Response<Bytes>, ApiError> {
    let query = params.get("query").unwrap_or("");
    let expanded = match query.trim() {
        "" => None,
        _ => Some(promql::parse(query).map(|e| promql::printer::print(&e)).map_err(|e| format!("invalid parameter \"query\": {e}"))),
    };
    if params.get("format") == Some("json") {
        return match expanded {
            None => Err(ApiError::bad_data("missing parameter \"query\"")),
            Some(Err(problem)) => Err(ApiError::bad_data(problem)),
            Some(Ok(text)) => {
                let mut body = String::from("{\"status\":\"success\",\"expr\":");
                json::push_json_string(&mut body, &text);
                body.push('}');
                Ok(json_response(StatusCode::OK, body))
            }
        };
    }
    Ok(page(query, expanded.as_ref()))
}

fn page(query: &str, expanded: Option<&Result<String, String>>) -> Response<Bytes> {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Expand WITH expressions</title><style>\
         body{font-family:sans-serif;margin:1em}textarea{width:100%;font-family:monospace}.error{color:#b00;font-weight:bold}\
         </style></head><body><h1>Expand WITH expressions</h1>",
    );
    html.push_str(&format!(
        "<form method=\"get\"><p>A query with <code>WITH</code> templates, for example \
         <code>WITH (f = {{job=&quot;api&quot;}}, r(m) = rate(m[5m])) sum(r(http_requests_total{{f}})) by (code)</code>:<br>\
         <textarea name=\"query\" rows=\"12\">{}</textarea></p><p><input type=\"submit\" value=\"Expand\"></p></form>",
        escape_html(query)
    ));
    let status = match expanded {
        Some(Ok(text)) => {
            html.push_str(&format!("<p>The query as it is evaluated:<br><textarea readonly rows=\"6\">{}</textarea></p>", escape_html(text)));
            StatusCode::OK
        }
        Some(Err(problem)) => {
            html.push_str(&format!("<p class=\"error\">{}</p>", escape_html(problem)));
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::OK,
    };
    html.push_str("</body></html>\n");
    let mut response = Response::new(Bytes::from(html));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}
