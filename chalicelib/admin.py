"""The operator's command line: look at a stage and fix it, from the project's folder.

    python -m chalicelib.admin [--stage local] [--yes] COMMAND ...

    stats                       photos (by status), bytes, users
    reprocess OWNER/ID | ID     queue a re-render job; --failed: every failed photo; --all: every photo
    redrive                     move the dead-letter queue's messages back to the work queue
    check [--repair]            the invariant checker (chalicelib/consistency.py); --repair fixes
    export USERNAME DIR         every original of a user, and a JSON of all their records
    purge-user USERNAME         delete a user's account, photos and records for good

`--stage local` (the default) is the running `make run` stack: the emulator on 127.0.0.1:$AWS_PORT
(default 5000) with fake credentials and the local stage's names. Any other stage reads its names from
.chalice/config.json, and `${Output}` placeholders from its CloudFormation stack `gallery-<stage>`.
Commands that delete ask first, unless --yes. An operator tool: it may Scan; the app never does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

PROJECT_DIR = Path(__file__).resolve().parent.parent
Ask = Callable[[str], str]


class Admin:
    """The commands, over the current settings' stage. `out` prints; `ask` asks a yes/no question."""

    def __init__(self, *, out: Callable[[str], None] = print, ask: Ask = input, yes: bool = False) -> None:
        from . import aws, config
        from .services import services

        self.settings = config.load()
        self.svc = services(self.settings)
        self.table = aws.table(self.settings.table)
        self.sqs = aws.client("sqs")
        self.cognito = aws.client("cognito-idp")
        self.out = out
        self._ask = ask
        self.yes = yes

    # Helpers

    def confirm(self, question: str) -> bool:
        """True if --yes was given or the operator answers yes."""
        if self.yes:
            return True
        try:
            answer = self._ask(f"{question} [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() in ("y", "yes"):
            return True
        self.out("not confirmed: nothing done")
        return False

    def _scan(self, condition: Any) -> Iterable[dict[str, Any]]:
        kwargs: dict[str, Any] = {"FilterExpression": condition}
        while True:
            response = self.table.scan(**kwargs)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _progress(self, done: int, total: int, what: str) -> None:
        if total >= 20 and (done % max(1, total // 10) == 0 or done == total):
            self.out(f"  {done}/{total} {what}")

    # Commands

    def stats(self) -> int:
        from .consistency import scan_photos

        photos = scan_photos(self.table)
        by_status: dict[str, int] = {}
        for photo in photos:
            by_status[photo.status] = by_status.get(photo.status, 0) + 1
        users = sum(1 for _ in self._scan(Attr("SK").eq("PROFILE")))
        total = sum(p.size for p in photos)
        self.out(f"stage {self.settings.stage}: {len(photos)} photos, {total} bytes "
                 f"({total / 1e6:.1f} MB of originals), {users} users")
        for status, n in sorted(by_status.items()):
            self.out(f"  {status:10} {n}")
        trashed = sum(1 for p in photos if p.trashed_at)
        if trashed:
            self.out(f"  (of which {trashed} in the trash)")
        return 0

    def reprocess(self, target: str | None, *, failed: bool, every: bool) -> int:
        from .consistency import scan_photos
        from .models import FAILED, READY

        if target:
            owner, _, photo_id = target.rpartition("/")
            if not owner:
                found = list(self._scan(Attr("SK").eq(f"PHOTO#{photo_id}") & Attr("type").eq("photo")))
                if not found:
                    self.out(f"no photo {photo_id}")
                    return 1
                owner = str(found[0]["owner"])
            jobs = [(owner, photo_id)]
        else:
            wanted = (FAILED,) if failed else (READY, FAILED)
            photos = scan_photos(self.table)
            jobs = [(p.owner, p.id) for p in photos if p.status in wanted and not p.trashed_at]
            if every and jobs and not self.confirm(f"queue {len(jobs)} re-render jobs?"):
                return 1
        for n, (owner, photo_id) in enumerate(jobs, 1):
            self.svc.queue.send({"type": "reprocess", "owner": owner, "id": photo_id})
            self._progress(n, len(jobs), "queued")
        self.out(f"queued {len(jobs)} reprocess job(s) on {self.settings.work_queue_name}")
        return 0

    def redrive(self) -> int:
        dlq = self.sqs.get_queue_url(QueueName=f"{self.settings.work_queue_name}-dlq")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
        self.out(f"{waiting} message(s) in the dead-letter queue")
        moved = 0
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                # Sent before deleted: a crash in between leaves a duplicate, which jobs tolerate.
                self.sqs.send_message(QueueUrl=self.svc.queue.url, MessageBody=message["Body"])
                self.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
                self._progress(moved, waiting, "moved")
        self.out(f"moved {moved} message(s) back to {self.settings.work_queue_name}")
        return 0

    def check(self, *, repair: bool) -> int:
        from . import consistency

        store = self.svc.photos.storage
        report = consistency.check(table=self.table, store=store, upload_ttl=self.settings.upload_url_ttl)
        for problem in report.problems:
            self.out(str(problem))
        found = "all invariants hold" if report.ok else f"{len(report.problems)} problem(s) {report.kinds()}"
        self.out(f"checked {report.photos} photo records and {report.objects} objects: {found}")
        if not repair or report.ok:
            return 0 if report.ok else 1
        question = f"repair {len(report.problems)} problem(s) (deletes orphans and expired records)?"
        if not self.confirm(question):
            return 1
        for line in consistency.repair(report, photos=self.svc.photos, queue=self.svc.queue, store=store):
            self.out(f"repair: {line}")
        return 0

    def export(self, username: str, directory: Path) -> int:
        from . import storage
        from .models import from_item, owner_pk

        items = self._query_all(owner_pk(username))
        if not items:
            self.out(f"no records of {username}")
            return 1
        originals = directory / "originals"
        originals.mkdir(parents=True, exist_ok=True)
        photos = [i for i in items if i.get("type") == "photo"]
        saved = 0
        for n, item in enumerate(photos, 1):
            photo_id = str(item["id"])
            for key in (storage.original_key(username, photo_id), storage.upload_key(username, photo_id)):
                data = self.svc.photos.storage.get(key)
                if data is not None:
                    name = Path(self.svc.photos.download_name(from_item(item))).name
                    (originals / f"{photo_id}-{name}").write_bytes(data)
                    saved += 1
                    break
            self._progress(n, len(photos), "photos")
        records = directory / "records.json"
        text = json.dumps(items, indent=2, sort_keys=True, default=_plain)
        records.write_text(text + "\n", encoding="utf-8")
        self.out(f"exported {len(items)} records to {records} and {saved} originals to {originals}")
        return 0

    def purge_user(self, username: str) -> int:
        from .models import owner_pk

        items = self._query_all(owner_pk(username))
        photos = self.svc.photos.catalog.owner_photos(username)
        if not items and not self._cognito_user(username):
            self.out(f"no user {username}")
            return 1
        if not self.confirm(f"delete {username} for good: the account, {len(photos)} photos and "
                            f"{len(items)} records?"):
            return 1
        if self._cognito_user(username):
            self.svc.users.accounts.delete_user(username)
            self.out(f"deleted the account {username}")
        self.svc.users.unshare(username)
        for n, photo in enumerate(photos, 1):
            self.svc.photos.purge(photo)
            self._progress(n, len(photos), "photos deleted")
        left = self._query_all(owner_pk(username))
        with self.table.batch_writer() as batch:
            for item in left:
                batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
        self.out(f"purged {username}: {len(photos)} photos and {len(left)} other records")
        return 0

    def _cognito_user(self, username: str) -> bool:
        if not self.settings.user_pool_id:
            return False
        try:
            self.cognito.admin_get_user(UserPoolId=self.settings.user_pool_id, Username=username)
        except Exception:  # noqa: BLE001 - UserNotFoundException, or no pool
            return False
        return True

    def _query_all(self, pk: str) -> list[dict[str, Any]]:
        return self.svc.photos.catalog.query_all(Key("PK").eq(pk))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def _local_pool(stage: str) -> None:
    """The local stage's user pool id is made at each start: find it by the template's name."""
    if os.environ.get("USER_POOL_ID"):
        return
    import boto3

    try:
        pools = boto3.client("cognito-idp").list_user_pools(MaxResults=60).get("UserPools", [])
    except Exception:  # noqa: BLE001 - the stack is not running: commands that need the pool say so
        return
    for pool in pools:
        if pool.get("Name") == f"gallery-{stage}":
            os.environ["USER_POOL_ID"] = pool["Id"]
            return


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__.split("\n\n")[0],
                                    formatter_class=argparse.RawDescriptionHelpFormatter,
                                    epilog=__doc__.split("\n\n", 1)[1])
    parse.add_argument("--stage", default="local", help="local (make run's stack, the default), dev, prod...")
    parse.add_argument("--aws-port", type=int, default=int(os.environ.get("AWS_PORT", "5000")))
    parse.add_argument("--yes", "-y", action="store_true", help="do not ask before deleting")
    commands = parse.add_subparsers(dest="command", required=True)
    commands.add_parser("stats", help="photos, bytes and users, by status")
    reprocess = commands.add_parser("reprocess", help="queue re-render jobs")
    which = reprocess.add_mutually_exclusive_group(required=True)
    which.add_argument("target", nargs="?", help="OWNER/ID or ID")
    which.add_argument("--failed", action="store_true", help="every failed photo")
    which.add_argument("--all", action="store_true", help="every ready or failed photo")
    commands.add_parser("redrive", help="move dead letters back to the work queue")
    check = commands.add_parser("check", help="do records and objects agree?")
    check.add_argument("--repair", action="store_true", help="fix what is safe to fix")
    export = commands.add_parser("export", help="a user's originals and records")
    export.add_argument("username")
    export.add_argument("directory", type=Path)
    purge = commands.add_parser("purge-user", help="delete a user for good")
    purge.add_argument("username")
    return parse


def main(argv: list[str] | None = None, *, ask: Ask = input) -> int:
    args = parser().parse_args(argv)
    from . import consistency

    consistency.configure(args.stage, aws_port=args.aws_port, project_dir=PROJECT_DIR)
    if args.stage == "local":
        _local_pool(args.stage)
    admin = Admin(ask=ask, yes=args.yes)
    if args.command == "stats":
        return admin.stats()
    if args.command == "reprocess":
        return admin.reprocess(args.target, failed=args.failed, every=args.all)
    if args.command == "redrive":
        return admin.redrive()
    if args.command == "check":
        return admin.check(repair=args.repair)
    if args.command == "export":
        return admin.export(args.username, args.directory)
    return admin.purge_user(args.username)


if __name__ == "__main__":
    sys.exit(main())
