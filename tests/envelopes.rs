//! Behaviour tests of what pipelines feed keywatcher: records in envelopes (EventBridge, lookup-events,
//! CloudWatch Logs decoded and as delivered, Fluent Bit and Vector events, SQS messages), `--passthrough` and
//! `--dedup`.

mod common;

use base64::Engine;
use common::{Env, gzip, ndjson, record};
use serde_json::{Value, json};

/// Six calls of one key, each from its own address, so every line of output names its record.
fn calls() -> Vec<Value> {
    (1..=6)
        .map(|i| {
            let time = format!("2026-11-02T10:0{i}:00Z");
            record(
                "AKIAEXAMPLEPIPE1",
                &time,
                &format!("203.0.113.{i}"),
                "aws-cli/2.13.5",
                "us-east-1",
                "DescribeInstances",
            )
        })
        .collect()
}

fn ids(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|line| line["eventID"].as_str().unwrap()).collect()
}

/// CloudWatch Logs subscription data holding `records` as log event messages.
fn log_batch(records: &[Value]) -> Value {
    let events: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"id": format!("3{i}"), "timestamp": 1_793_000_000_000u64, "message": r.to_string()}))
        .collect();
    json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "trail", "logStream": "s",
           "subscriptionFilters": ["keywatcher"], "logEvents": events})
}

#[test]
fn every_envelope_is_opened_and_scored_like_the_plain_records() {
    let env = Env::new();
    let calls = calls();
    let baseline = env.write("baseline.ndjson", ndjson(&calls));
    let plain = env.run(&["score", "--baseline", baseline.to_str().unwrap()], ndjson(&calls));
    assert_eq!(plain.code, 0, "{}", plain.stderr);

    let awslogs =
        base64::engine::general_purpose::STANDARD.encode(gzip(log_batch(&calls[4..6]).to_string().as_bytes()));
    let control = json!({"messageType": "CONTROL_MESSAGE", "logEvents": [
        {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]});
    let wrapped = [
        json!({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": calls[0]}),
        json!({"Events": [{"EventId": "1", "EventTime": 1_793_000_000, "CloudTrailEvent": calls[1].to_string()}],
               "NextToken": "next"}),
        json!({"EventId": "2", "EventTime": "2026-11-02T10:03:00Z", "CloudTrailEvent": calls[2].to_string()}),
        control,
        json!({"log": calls[3].to_string(), "stream": "stdout", "time": "2026-11-02T10:04:00Z"}),
        json!({"awslogs": {"data": awslogs}}),
    ];
    // Vector's `message` as a string and as an object, pretty-printed, in a JSON array: shapes and
    // envelopes combine.
    let vector = serde_json::to_string_pretty(&json!([
        {"message": calls[0].to_string(), "source_type": "exec"},
        {"message": calls[1], "source_type": "exec"}
    ]))
    .unwrap();
    // EventBridge through SQS: `aws sqs receive-message` output, and the event a Lambda function gets (its
    // `Records` are no CloudTrail log file); the second through SNS too.
    let bridged = |call: &Value| json!({"detail-type": "AWS API Call via CloudTrail", "detail": call}).to_string();
    let sns = json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:trail",
                     "Message": bridged(&calls[3])});
    let sqs = [
        json!({"Messages": [{"MessageId": "m1", "ReceiptHandle": "r", "MD5OfBody": "x", "Body": bridged(&calls[2])}]}),
        json!({"Records": [{"messageId": "m2", "body": sns.to_string(), "eventSource": "aws:sqs",
                            "awsRegion": "us-east-1"}]}),
    ];
    let input = format!("{}{vector}\n{}", ndjson(&wrapped), ndjson(&sqs));
    let out = env.run(&["score", "--baseline", baseline.to_str().unwrap()], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plain = plain.lines();
    let want: Vec<&str> = ids(&plain).into_iter().chain(ids(&plain[..4])).collect();
    assert_eq!(ids(&out.lines()), want);
    assert!(out.lines().iter().all(|line| line["score"] == 100), "{}", out.stdout);
    assert!(out.stderr.contains("skipped 1 CloudWatch Logs control message(s)"), "{}", out.stderr);
    assert!(!out.stderr.contains("unreadable"), "{}", out.stderr);

    // Learning reads them too.
    let learn = env.run(&["learn"], &input);
    assert_eq!(learn.code, 0, "{}", learn.stderr);
    assert!(learn.stderr.contains("learned 10"), "{}", learn.stderr);
}

#[test]
fn a_bad_record_inside_an_envelope_is_reported_with_its_origin_and_the_rest_kept() {
    let env = Env::new();
    let calls = calls();
    let mut batch = log_batch(&calls[..3]);
    batch["logEvents"][1]["message"] = json!("{\"eventName\": oops}");
    let packed = base64::engine::general_purpose::STANDARD.encode(gzip(batch.to_string().as_bytes()));
    let input = format!("{}\n{}\n{}\n", calls[3], batch, json!({"awslogs": {"data": packed}}));
    let out = env.run(&["learn"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("learned 5"), "{}", out.stderr);
    assert!(out.stderr.contains("2 unreadable record(s) skipped"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "skipped <stdin>:2, logEvents[1].message: invalid JSON (expected value) at line 1, column 15 of it"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("skipped <stdin>:3, awslogs.data, logEvents[1].message: invalid JSON"),
        "{}",
        out.stderr
    );
    let strict = env.run(&["learn", "--strict"], &input);
    assert_eq!(strict.code, 2);
    assert!(strict.stderr.contains("stopped at <stdin>:2, logEvents[1].message"), "{}", strict.stderr);

    let bomb = base64::engine::general_purpose::STANDARD.encode(gzip(&vec![b' '; 9 << 20]));
    let out = env.run(&["learn"], json!({"awslogs": {"data": bomb}}).to_string());
    assert!(out.stderr.contains("awslogs.data unpacks to more than 64 times its size"), "{}", out.stderr);
}

#[test]
fn passthrough_writes_every_record_back_byte_for_byte_with_its_verdict() {
    let env = Env::new();
    let calls = calls();
    let baseline = env.write("baseline.ndjson", ndjson(&calls[..3]));
    let mut temporary = calls[0].clone();
    temporary["userIdentity"]["accessKeyId"] = json!("ASIAEXAMPLETEMP1");
    // Lines as other tools write them: spaces after colons, escapes, non-ASCII, fields keywatcher ignores.
    let lines = [
        calls[0].to_string(),
        serde_json::to_string(&calls[4]).unwrap().replace("\":", "\": ").replace(",\"", ", \""),
        calls[5].to_string().replace("aws-cli/2.13.5", "aws-cli/2.13.5 \\u00e9\\\"quoted\\\" \\/ é"),
        temporary.to_string(),
        json!({"note": "not CloudTrail"}).to_string(),
        json!({"message": "GET /index.html 200", "source_type": "exec"}).to_string(),
        json!({"eventVersion": "1.08", "eventTime": "2026-11-02T10:00:00Z", "eventType": "AwsCloudTrailInsight",
               "eventCategory": "Insight", "insightDetails": {"state": "Start", "eventName": "RunInstances"}})
        .to_string(),
    ];
    let input: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let out =
        env.run(&["score", "--passthrough", "--scoring", "legacy", "--baseline", baseline.to_str().unwrap()], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(written.len(), lines.len(), "one line per record: {}", out.stdout);
    for (line, original) in written.iter().zip(&lines) {
        let kept = &original[..original.len() - 1];
        assert!(line.starts_with(kept) && line[kept.len()..].starts_with(",\"keywatcher\":{"), "{line}");
        let mut value: Value = serde_json::from_str(line).unwrap();
        value.as_object_mut().unwrap().remove("keywatcher");
        assert_eq!(value, serde_json::from_str::<Value>(original).unwrap());
    }
    let verdicts: Vec<Value> = out.lines().into_iter().map(|line| line["keywatcher"].clone()).collect();
    assert_eq!(verdicts[0]["score"], 100);
    assert_eq!(verdicts[0]["suspicious"], false);
    assert_eq!(verdicts[1]["suspicious"], true);
    assert_eq!(verdicts[1]["matched"]["ip"], false);
    assert!(verdicts[1]["reasons"][0].as_str().unwrap().contains("203.0.113.5"), "{}", verdicts[1]);
    assert_eq!(verdicts[3], json!({"excluded": "temporary key (ASIA)"}));
    assert_eq!(verdicts[4]["excluded"], "not a CloudTrail record (no eventTime, eventName or userIdentity)");
    // A Vector event of another log line is no envelope of CloudTrail: it comes back as it is, too.
    assert_eq!(verdicts[5]["excluded"], verdicts[4]["excluded"]);
    // An Insights event is no call, but a record an enrichment stage must not lose.
    assert_eq!(verdicts[6], json!({"excluded": "Insights event"}));
    // The report reads these lines as it reads verdict lines; the records not scored are no calls.
    let report = env.run(&["report"], &out.stdout);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert!(report.stdout.contains("203.0.113.5") && report.stdout.contains("AKIAEXAMPLEPIPE1"), "{}", report.stdout);
    assert!(
        report.stderr.contains("3 call(s) of 1 key(s), 2 suspicious") && !report.stderr.contains("skipped"),
        "{}",
        report.stderr
    );

    // A pretty-printed record comes back on one line with the same values; an enveloped one as decoded.
    let pretty = serde_json::to_string_pretty(&calls[1]).unwrap();
    let input = format!("{pretty}\n{}\n", json!({"log": calls[2].to_string()}));
    let out =
        env.run(&["score", "--passthrough", "--scoring", "legacy", "--baseline", baseline.to_str().unwrap()], &input);
    let written = out.lines();
    assert_eq!(written.len(), 2, "{}", out.stdout);
    assert!(out.stdout.lines().nth(1).unwrap().starts_with(&calls[2].to_string()[..20]), "{}", out.stdout);
    for (mut line, original) in written.into_iter().zip([&calls[1], &calls[2]]) {
        assert_eq!(line["keywatcher"]["score"], 100);
        line.as_object_mut().unwrap().remove("keywatcher");
        assert_eq!(&line, original);
    }
    let table =
        env.run(&["score", "--passthrough", "--format", "table", "--baseline", baseline.to_str().unwrap()], &input);
    assert_eq!(table.code, 2);
    assert!(table.stderr.contains("--passthrough writes the records back as JSON lines"), "{}", table.stderr);
    // Only the suspicious records with --only-suspicious.
    let out =
        env.run(&["score", "--passthrough", "--only-suspicious", "--baseline", baseline.to_str().unwrap()], &input);
    assert_eq!(out.stdout, "");
}

#[test]
fn dedup_drops_a_record_seen_in_the_last_n_and_counts_it() {
    let env = Env::new();
    let calls = calls();
    // calls 0 1 0 2 3 4 0: the second 0 is within the last 2 records, the third is not.
    let order = [0, 1, 0, 2, 3, 4, 0];
    let input = ndjson(&order.iter().map(|&i| calls[i].clone()).collect::<Vec<_>>());
    let baseline = env.write("baseline.ndjson", ndjson(&calls));
    let out = env.run(&["score", "--dedup", "2", "--baseline", baseline.to_str().unwrap()], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want: Vec<String> =
        [0, 1, 2, 3, 4, 0].iter().map(|&i| calls[i]["eventID"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids(&out.lines()), want);
    assert!(
        out.stderr.contains("read 7 record(s)") && out.stderr.contains("dropped 1 duplicate(s) (--dedup)"),
        "{}",
        out.stderr
    );
    let all = env.run(&["score", "--baseline", baseline.to_str().unwrap()], &input);
    assert_eq!(all.lines().len(), 7, "without --dedup every record is scored");
    let learn = env.run(&["learn", "--dedup", "100"], &input);
    assert!(learn.stderr.contains("learned 5") && learn.stderr.contains("dropped 2 duplicate(s)"), "{}", learn.stderr);
}

#[test]
fn an_attack_tool_inside_an_envelope_is_flagged_as_in_a_plain_record() {
    let env = Env::new();
    let calls = calls();
    let baseline = env.write("baseline.ndjson", ndjson(&calls));
    let tool = |i: usize, agent: &str| {
        let mut call = calls[i].clone();
        call["userAgent"] = json!(agent);
        call
    };
    let (trufflehog, kali) = ("TruffleHog", "aws-cli/1.18.69 Python/2.7.18 Linux/5.4.0-kali3-amd64 botocore/1.16.19");
    let wrapped = [
        tool(0, trufflehog),
        json!({"version": "0", "detail-type": "AWS API Call via CloudTrail", "detail": tool(1, trufflehog)}),
        json!({"message": tool(2, kali).to_string(), "source_type": "file"}),
        json!({"log": tool(3, kali).to_string()}),
        json!({"Events": [{"EventId": "4", "CloudTrailEvent": tool(4, trufflehog).to_string()}]}),
    ];
    let expected = ["TruffleHog", "TruffleHog", "Kali Linux", "Kali Linux", "TruffleHog"];
    for form in [&[][..], &["--passthrough"]] {
        let args = [&["score", "--baseline", baseline.to_str().unwrap()][..], form].concat();
        let out = env.run(&args, ndjson(&wrapped));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines = out.lines();
        assert_eq!(lines.len(), expected.len(), "{form:?}: {}", out.stdout);
        for (line, tool) in lines.iter().zip(expected) {
            let verdict = if form.is_empty() { line } else { &line["keywatcher"] };
            let reason = format!("user agent of an attack tool ({tool})");
            assert!(verdict["reasons"].as_array().unwrap().contains(&json!(reason)), "{form:?}: {line}");
            assert_eq!(verdict["suspicious"], true, "{form:?}: {line}");
        }
    }
}
