"""``manage.py verify_history``: check the hash chain of every approval request's history; exit 1 on a break."""

from django.core.management.base import BaseCommand, CommandError

from apps.governance.models import ApprovalRequest
from apps.governance.selectors import history_verify


class Command(BaseCommand):
    help = "Verify the tamper-evident history of every approval request (non-zero exit when one is broken)."

    def add_arguments(self, parser):
        parser.add_argument("--request", type=int, action="append", help="Only this request id (repeatable).")

    def handle(self, *args, **options):
        requests = ApprovalRequest.objects.order_by("pk")
        if options.get("request"):
            requests = requests.filter(pk__in=options["request"])
        checked, broken = 0, []
        for request in requests.iterator():
            report = history_verify(request=request)
            checked += 1
            if not report.ok:
                broken.append(request.pk)
                self.stderr.write(f"approval request {request.pk}: broken at row {report.broken_at}: {report.reason}")
        if broken:
            raise CommandError(f"{len(broken)} of {checked} approval histories are broken: {broken}")
        self.stdout.write(f"{checked} approval histories verify.")
