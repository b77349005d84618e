#!/usr/bin/env python3
"""The main job's second half: every sample mail through a real Postfix and mugaika-milter.

Starts a private Postfix on 127.0.0.1 (its own config, queue and Maildir under a temporary
directory; the system's Postfix is never touched) with mugaika-milter in smtpd_milters, sends each
sample over SMTP, shows what the mailbox received next to what was sent, prints the audit trail,
and stops everything it started. Run by scripts/demo (as root).
"""
from __future__ import annotations

import email
import email.policy
import os
import sys
import time
from email.header import decode_header, make_header
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import mugaika_e2e as e2e  # noqa: E402


def subject_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    try:
        return str(make_header(decode_header(msg.get("Subject", ""))))
    except Exception:  # a deliberately broken sample
        return "(undecodable subject)"


def parts_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    leaves = [p for p in msg.walk() if not p.is_multipart()]
    types = [p.get_content_type() for p in leaves]
    if len(types) > 4:
        return f"{len(types)} parts: " + ", ".join(types[:4]) + ", ..."
    return f"{len(types)} part{'s' if len(types) != 1 else ''}: " + ", ".join(types)


def main() -> int:
    e2e.require_root()
    samples = e2e.sample_mails()
    if len(sys.argv) > 1:
        samples = [Path(a) for a in sys.argv[1:]]
    with e2e.Harness() as h:
        h.start_milter(h.milter_config())
        print(f"== private Postfix on 127.0.0.1:{h.internet_port} (internet) and "
              f":{h.lgwan_port} (lgwan), milter {h.milter_socket}")
        sent: dict[str, tuple[Path, bytes, str]] = {}
        for path in samples:
            raw = path.read_bytes()
            outbound = "outbound" in path.name
            port = h.lgwan_port if outbound else h.internet_port
            mid = e2e.message_id_of(raw)
            try:
                h.send(raw, port, "sender@example.com" if not outbound else "staff@city.example.lg.jp",
                       ["staff@city.example.lg.jp"] if not outbound else ["partner@example.com"])
                answer = "250 accepted"
            except e2e.SmtpError as err:
                answer = f"{err.code} {err.message}"
            sent[mid] = (path, raw, answer)
        h.wait_drained()
        received = {d.message_id: d for d in h.delivered()}
        for mid, (path, raw, answer) in sent.items():
            print(f"\n## {path.name}  ({'lgwan -> internet' if 'outbound' in path.name else 'internet -> lgwan'})")
            print(f"   sent:     {subject_of(raw)[:70]}")
            print(f"             {len(raw):,} bytes, {parts_of(raw)}")
            print(f"   SMTP:     {answer[:140]}")
            d = received.get(mid)
            if d is None:
                print("   mailbox:  (nothing delivered)")
                continue
            print(f"   mailbox:  {d.header('X-Mugaika-Sanitized')[:100]}")
            print(f"             {len(d.raw):,} bytes, {parts_of(d.raw)}")
            lines = [l for l in d.text().splitlines() if l.strip()]
            # Skip the notice's frame, show what the staff reads first.
            shown = [l for l in lines if not l.startswith("━")][:8]
            for line in shown:
                print(f"   | {line[:110]}")
        print("\n== audit trail (newest first)")
        print(h.cli("audit", "query", "--limit", "15").stdout.decode())
        print("== audit chain")
        print(h.audit_verify())
        # What an auditor does next: the story of one mail, a seal written down outside the
        # system and checked, the monthly report.
        cdr_mail = next((r for r in h.audit_rows()
                         if r.get("message_id") == "<46.sample@mugaika.example>"), None)
        cdr_mail = cdr_mail or next((r for r in h.audit_rows() if r["verdict"] == "sanitized"), None)
        if cdr_mail:
            print(f"== audit show {cdr_mail['audit_id']} (first 100 lines)")
            story = h.cli("audit", "show", cdr_mail["audit_id"]).stdout.decode().splitlines()
            print("\n".join(story[:100]))
        seal = h.cli("audit", "seal").stdout.decode().splitlines()
        print("== audit seal")
        print("\n".join(seal[:2]))
        print("== audit verify --seal")
        print(h.cli("audit", "verify", "--seal", seal[0]).stdout.decode())
        month = time.strftime("%Y-%m", time.localtime())
        report = Path("/tmp") / f"mugaika-demo-report-{month}.html"  # kept after the demo
        h.cli("audit", "report", "--month", month, "-o", str(report))
        print(f"== monthly report: {report} ({report.stat().st_size:,} bytes, one HTML file with "
              f"SVG charts); as CSV:")
        csv_lines = h.cli("audit", "report", "--month", month, "--format", "csv").stdout.decode(
            "utf-8-sig").splitlines()
        print("\n".join(csv_lines[:14]))
        first = next(iter(sent.values()))
        rows = [r for r in h.audit_rows() if r.get("message_id") == e2e.message_id_of(first[1])]
        if rows:
            original = h.export_original(rows[0]["audit_id"])
            print(f"== original of {first[0].name} exported from the quarantine: "
                  f"{len(original):,} bytes, as received by the milter")
    print("== everything started by the demo has been stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
