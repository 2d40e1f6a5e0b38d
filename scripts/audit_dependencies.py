"""Known vulnerabilities of the installed Python packages, by pip-audit (``make audit``).

Exit 1 when a package has a known vulnerability (each one is listed with the versions that fix it).
pip-audit asks a vulnerability service (PyPI's JSON API by default, or OSV); where neither answers
(offline, or a package index without PyPI's JSON API), packages come back unaudited: that is reported
loudly as NOT AUDITED, never as an all-clear, and exits 0 so that ``make audit`` does not fail for a
service it cannot reach, unless AUDIT_STRICT=1. A finding always fails.

    python scripts/audit_dependencies.py [pip-audit options, e.g. --vulnerability-service osv]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--format", "json", "--skip-editable"]
    result = subprocess.run([*command, *argv], capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603  # fixed command: this interpreter's pip-audit
    strict = os.environ.get("AUDIT_STRICT", "") not in ("", "0")
    try:
        report = json.loads(result.stdout)
    except ValueError:
        sys.stderr.write(result.stderr[-2000:])
        print("NOT AUDITED: pip-audit could not ask its vulnerability service (see above).")
        return 1 if strict else 0
    vulnerable = [dependency for dependency in report.get("dependencies", []) if dependency.get("vulns")]
    skipped = [dependency for dependency in report.get("dependencies", []) if "skip_reason" in dependency]
    unaudited = [dependency for dependency in skipped if "editable" not in dependency["skip_reason"]]  # not ours
    audited = len(report.get("dependencies", [])) - len(skipped)
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            print(f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    if unaudited:
        reasons = sorted({dependency["skip_reason"].split(":")[0] for dependency in unaudited})
        print(f"NOT AUDITED: {len(unaudited)} package(s) could not be checked ({'; '.join(reasons)}).")
        print("The vulnerability service did not answer for them; run `make audit` where it can be reached.")
    print(f"{audited} package(s) audited, {len(vulnerable)} with known vulnerabilities.")
    if vulnerable:
        return 1
    return 1 if unaudited and strict else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
