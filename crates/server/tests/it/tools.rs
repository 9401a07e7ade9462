//! Function calling (issue 22): the real SmolLM2 model forced to call a tool,
//! streamed calls, and an agent loop (call → tool result → answer).

use serde_json::{Value, json};

use crate::{TestServer, error_of};

fn weather_tool() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }])
}

fn tool_request(server: &TestServer, choice: Value) -> Value {
    let mut body = server.chat_body("What is the weather in Paris?", 64);
    body["tools"] = weather_tool();
    body["tool_choice"] = choice;
    body
}

/// Checks one OpenAI-shaped call of `get_weather` and returns it.
fn weather_call(call: &Value) -> Value {
    assert_eq!(call["type"], "function", "{call}");
    assert!(!call["id"].as_str().unwrap().is_empty(), "{call}");
    assert_eq!(call["function"]["name"], "get_weather", "{call}");
    let arguments = call["function"]["arguments"].as_str().unwrap();
    let parsed: Value =
        serde_json::from_str(arguments).unwrap_or_else(|e| panic!("{e}: {arguments}"));
    assert!(parsed.is_object(), "{arguments}");
    call.clone()
}

#[tokio::test]
async fn tool_choice_required_or_named_is_a_parseable_call_issue_22() {
    let server = TestServer::start().await;
    for choice in [
        json!("required"),
        json!({"type": "function", "function": {"name": "get_weather"}}),
    ] {
        let response = server
            .post(
                "/v1/chat/completions",
                &tool_request(&server, choice.clone()),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{choice}: {body}");
        let choice0 = &body["choices"][0];
        assert_eq!(choice0["finish_reason"], "tool_calls", "{body}");
        assert_eq!(choice0["message"]["role"], "assistant");
        assert!(choice0["message"]["content"].is_null(), "{body}");
        let calls = choice0["message"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{body}");
        weather_call(&calls[0]);
    }
}

#[tokio::test]
async fn a_streamed_call_arrives_as_tool_call_deltas_issue_22() {
    let server = TestServer::start().await;
    let mut body = tool_request(&server, json!("required"));
    body["stream"] = json!(true);
    let response = server.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    // No call text leaks into content.
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["delta"]["content"].is_null()),
        "{text}"
    );
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["tool_calls"].is_array())
        .collect();
    assert_eq!(deltas.len(), 1, "{text}");
    let delta = &deltas[0]["choices"][0]["delta"];
    assert_eq!(delta["role"], "assistant");
    assert_eq!(delta["tool_calls"][0]["index"], 0);
    weather_call(&delta["tool_calls"][0]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn an_agent_loop_call_then_result_then_answer_issue_22() {
    let server = TestServer::start().await;
    let first: Value = server
        .post(
            "/v1/chat/completions",
            &tool_request(&server, json!("required")),
        )
        .await
        .json()
        .await
        .unwrap();
    let message = first["choices"][0]["message"].clone();
    let call = weather_call(&message["tool_calls"][0]);

    // The client runs the tool and sends back its result.
    let mut body = server.chat_body("What is the weather in Paris?", 32);
    body["tools"] = weather_tool();
    body["tool_choice"] = json!("none");
    body["messages"]
        .as_array_mut()
        .unwrap()
        .extend([
            message,
            json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"sky\": \"sunny\", \"celsius\": 21}"}),
        ]);
    let response = server.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let last: Value = response.json().await.unwrap();
    let choice = &last["choices"][0];
    assert!(
        ["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()),
        "{last}"
    );
    assert!(choice["message"].get("tool_calls").is_none(), "{last}");
    assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn bad_tool_requests_are_400_with_their_param() {
    let server = TestServer::start().await;
    let unknown = tool_request(
        &server,
        json!({"type": "function", "function": {"name": "launch"}}),
    );
    let response = server.post("/v1/chat/completions", &unknown).await;
    assert_eq!(error_of(response, 400).await["param"], "tool_choice");

    let mut no_id = server.chat_body("hi", 4);
    no_id["messages"] = json!([{"role": "tool", "content": "x"}]);
    let response = server.post("/v1/chat/completions", &no_id).await;
    assert_eq!(error_of(response, 400).await["param"], "messages");

    let mut bad_tool = server.chat_body("hi", 4);
    bad_tool["tools"] = json!([{"type": "function", "function": {"name": "has space"}}]);
    let response = server.post("/v1/chat/completions", &bad_tool).await;
    assert_eq!(error_of(response, 400).await["param"], "tools");
}
