//! The XML-RPC that Uyuni's API speaks, as far as `uyuni_sd_configs` needs it: a
//! `methodCall` with string, int and int-array parameters, and a `methodResponse` read into
//! values (structs, arrays, strings, numbers, booleans) or its `fault` read as an error in
//! the words of the Go client Prometheus uses (`Fault(<code>): <string>`). Pure: no I/O.

use std::collections::BTreeMap;

/// One XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Double(f64),
    Str(String),
    Array(Vec<Value>),
    Struct(BTreeMap<String, Value>),
    Nil,
}

impl Value {
    /// A struct's member, if this is a struct that has it.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.get(name),
            _ => None,
        }
    }

    /// The text of a string (or of a number written as one), else empty: Go's zero value.
    pub fn text(&self) -> String {
        match self {
            Value::Str(text) => text.clone(),
            _ => String::new(),
        }
    }

    /// An int, else 0: Go's zero value.
    pub fn int(&self) -> i64 {
        match self {
            Value::Int(n) => *n,
            _ => 0,
        }
    }

    /// A boolean, else false.
    pub fn bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// An array's items, else none.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(items) => items,
            _ => &[],
        }
    }
}

/// The body of a call of `method` with `params`.
pub fn call_body(method: &str, params: &[Value]) -> String {
    let mut body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodCall><methodName>{}</methodName><params>", escape(method));
    for param in params {
        body.push_str("<param>");
        write_value(&mut body, param);
        body.push_str("</param>");
    }
    body.push_str("</params></methodCall>");
    body
}

fn write_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(n) => out.push_str(&format!("<int>{n}</int>")),
        Value::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
        Value::Double(x) => out.push_str(&format!("<double>{x}</double>")),
        Value::Str(text) => out.push_str(&format!("<string>{}</string>", escape(text))),
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, member) in members {
                out.push_str(&format!("<member><name>{}</name>", escape(name)));
                write_value(out, member);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The value a `methodResponse` carries, or its fault (`Fault(<code>): <string>`), or why it
/// cannot be read.
pub fn answer(body: &str) -> Result<Value, String> {
    let document = roxmltree::Document::parse(body).map_err(|e| format!("the XML-RPC answer is not XML: {e}"))?;
    let root = document.root_element();
    if root.tag_name().name() != "methodResponse" {
        return Err(format!("the XML-RPC answer is a <{}>, not a <methodResponse>", root.tag_name().name()));
    }
    if let Some(fault) = child(root, "fault") {
        let value = child(fault, "value").map(read_value).transpose()?.unwrap_or(Value::Nil);
        return Err(format!("Fault({}): {}", value.member("faultCode").map(Value::int).unwrap_or(0), value.member("faultString").map(Value::text).unwrap_or_default()));
    }
    let value = child(root, "params").and_then(|p| child(p, "param")).and_then(|p| child(p, "value")).ok_or("the XML-RPC answer has no value")?;
    read_value(value)
}

/// The first element child named `name`.
fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

/// A `<value>` element read; a value without a type element is a string, as XML-RPC says.
fn read_value(value: roxmltree::Node<'_, '_>) -> Result<Value, String> {
    let Some(typed) = value.children().find(|c| c.is_element()) else {
        return Ok(Value::Str(value.text().unwrap_or("").to_string()));
    };
    let text = typed.text().unwrap_or("").trim();
    Ok(match typed.tag_name().name() {
        "int" | "i4" | "i8" => Value::Int(text.parse().map_err(|_| format!("XML-RPC int {text:?} is not an integer"))?),
        "boolean" => Value::Bool(match text {
            "1" => true,
            "0" => false,
            other => return Err(format!("XML-RPC boolean {other:?} is not 0 or 1")),
        }),
        "double" => Value::Double(text.parse().map_err(|_| format!("XML-RPC double {text:?} is not a number"))?),
        "string" | "dateTime.iso8601" | "base64" => Value::Str(typed.text().unwrap_or("").to_string()),
        "nil" => Value::Nil,
        "array" => {
            let data = child(typed, "data");
            let items = data.into_iter().flat_map(|d| d.children().filter(|c| c.is_element() && c.tag_name().name() == "value"));
            Value::Array(items.map(read_value).collect::<Result<_, _>>()?)
        }
        "struct" => {
            let mut members = BTreeMap::new();
            for member in typed.children().filter(|c| c.is_element() && c.tag_name().name() == "member") {
                let name = child(member, "name").and_then(|n| n.text()).unwrap_or("").to_string();
                let value = child(member, "value").map(read_value).transpose()?.unwrap_or(Value::Nil);
                members.insert(name, value);
            }
            Value::Struct(members)
        }
        other => return Err(format!("XML-RPC type <{other}> is not known")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_written_as_xml_rpc() {
        let body = call_body("system.getNetworkForSystems", &[Value::Str("t<&>".into()), Value::Array(vec![Value::Int(1), Value::Int(2)])]);
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodCall><methodName>system.getNetworkForSystems</methodName><params><param><value><string>t&lt;&amp;&gt;</string></value></param><param><value><array><data><value><int>1</int></value><value><int>2</int></value></data></array></value></param></params></methodCall>"
        );
    }

    #[test]
    fn answers_and_faults_are_read() {
        let answer_text = r#"<?xml version="1.0" encoding="UTF-8"?>
<methodResponse><params><param><value><array><data>
  <value><struct><member><name>id</name><value><i4>1000010000</i4></value></member>
    <member><name>system_groups</name><value><array><data><value><struct><member><name>id</name><value><int>7</int></value></member><member><name>name</name><value>web &amp; db</value></member></struct></value></data></array></value></member>
    <member><name>tls_enabled</name><value><boolean>1</boolean></value></member></struct></value>
</data></array></value></param></params></methodResponse>"#;
        let value = answer(answer_text).expect("valid");
        let system = &value.items()[0];
        assert_eq!(system.member("id").map(Value::int), Some(1_000_010_000));
        assert_eq!(system.member("system_groups").map(|g| g.items()[0].member("name").map(Value::text)), Some(Some("web & db".to_string())));
        assert!(system.member("tls_enabled").is_some_and(Value::bool));
        let fault = r#"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>2950</int></value></member><member><name>faultString</name><value><string>Either the password or username is incorrect.</string></value></member></struct></value></fault></methodResponse>"#;
        assert_eq!(answer(fault), Err("Fault(2950): Either the password or username is incorrect.".to_string()));
        assert!(answer("<html/>").is_err() && answer("not xml").is_err());
        assert!(answer("<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>").is_err());
    }
}
