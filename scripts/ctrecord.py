"""One CloudTrail record, shaped as AWS writes it, for the project's generators (benchmark data and
detection scenarios). Import it; it writes nothing itself.

    from ctrecord import record, iso
    record(key="AKIA…", user="ci-deploy", account="123456789012", ip="203.0.113.10",
           agent="aws-cli/2.13.5 …", region="us-east-1", source="s3.amazonaws.com",
           name="GetObject", time=datetime(…, tzinfo=timezone.utc))
"""

import random
from datetime import datetime, timezone

# Identity types that keep their access key in userIdentity, and the ARN shape of each.
ARN = {
    "IAMUser": "arn:aws:iam::{account}:user/{user}",
    "Root": "arn:aws:iam::{account}:root",
    "AssumedRole": "arn:aws:sts::{account}:assumed-role/{user}/session",
}


def iso(time: datetime) -> str:
    """eventTime as CloudTrail writes it: UTC, seconds, Z."""
    return time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def uuid(rng: random.Random) -> str:
    """A random UUID drawn from `rng`, so that seeded runs write the same bytes."""
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def record(*, key, user, account, ip, agent, region, source, name, time, rng=None, identity_type="IAMUser",
           error=None, request=None, response=None, invoked_by=None, vpc_endpoint=None, session_issuer=None):
    """A CloudTrail record (a dict, in AWS's field order) for one API call made with `key`."""
    rng = rng or random.Random(0)
    identity = {
        "type": identity_type,
        "principalId": ("AIDA" if identity_type == "IAMUser" else "AROA") + key[4:18],
        "arn": ARN[identity_type].format(account=account, user=user),
        "accountId": account,
        "accessKeyId": key,
    }
    if identity_type == "IAMUser":
        identity["userName"] = user
    if invoked_by:
        identity["invokedBy"] = invoked_by
    if session_issuer:
        identity["sessionContext"] = {
            "sessionIssuer": {"type": "Role", "principalId": "AROA" + key[4:18], "arn": session_issuer,
                              "accountId": account, "userName": session_issuer.rsplit("/", 1)[-1]},
            "attributes": {"creationDate": iso(time), "mfaAuthenticated": "false"},
        }
    out = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": iso(time),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
    }
    if error:
        out["errorCode"] = error
        out["errorMessage"] = f"User: {identity['arn']} is not authorized to perform: {source.split('.')[0]}:{name}"
    out["requestParameters"] = request
    out["responseElements"] = response
    out["requestID"] = uuid(rng)
    out["eventID"] = uuid(rng)
    out["readOnly"] = name.startswith(("Get", "List", "Describe"))
    out["eventType"] = "AwsApiCall"
    out["managementEvent"] = True
    out["recipientAccountId"] = account
    if vpc_endpoint:
        out["vpcEndpointId"] = vpc_endpoint
    out["eventCategory"] = "Management"
    out["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                         "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com"}
    return out
