#!/usr/bin/env sh
# Send riskgate's log lines to a Splunk HTTP Event Collector (HEC) as raw events, one per
# line, so props.conf for riskgate:json parses them as it does forwarded files.
#   SPLUNK_HEC_URL    for example https://splunk.example.com:8088
#   SPLUNK_HEC_TOKEN  an HEC token allowed to write the index
# Usage: riskgate start 2>&1 | sh hec-example.sh   (or tail -F /var/log/riskgate/riskgate.log | ...)
set -eu
while IFS= read -r line; do
  printf '%s\n' "$line" | curl --silent --show-error --fail \
    --header "Authorization: Splunk ${SPLUNK_HEC_TOKEN}" \
    --data-binary @- \
    "${SPLUNK_HEC_URL}/services/collector/raw?sourcetype=riskgate:json&index=security" >/dev/null
done
