"""Writing Maildir files: names, modes, atomicity and Postfix's error texts and codes."""

from __future__ import annotations

import asyncio
import errno
import os
import pwd
import re
import stat
from pathlib import Path

import pytest

from mailrelay.delivery import maildir
from mailrelay.delivery.maildir import MaildirError, Owner, mbox_dsn

#: Postfix's name in new/: <seconds>.V<device hex>I<inode hex>M<microseconds>.<host>
NEW_NAME = re.compile(r"\d+\.V[0-9a-f]+I[0-9a-f]+M\d{1,6}\.[^/]+")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_message_lands_in_new_under_postfix_name_with_private_modes(tmp_path: Path) -> None:
    box = tmp_path / "spool" / "alice"
    path = Path(maildir.deliver(f"{box}/", b"Subject: hi\n\nbody\n"))
    assert path.parent == box / "new"
    assert NEW_NAME.fullmatch(path.name), path.name
    assert path.name.endswith("." + maildir.hostname())
    assert path.read_bytes() == b"Subject: hi\n\nbody\n"
    assert os.listdir(box / "tmp") == []
    assert sorted(os.listdir(box)) == ["cur", "new", "tmp"]
    assert {mode(box / d) for d in ("tmp", "new", "cur")} == {0o700}
    assert mode(box) == mode(tmp_path / "spool") == 0o700
    assert mode(path) == 0o600


def test_the_name_carries_the_file_device_and_inode(tmp_path: Path) -> None:
    path = Path(maildir.deliver(str(tmp_path / "box"), b"x\n"))
    info = path.stat()
    assert f".V{info.st_dev:x}I{info.st_ino:x}M" in path.name


def test_concurrent_deliveries_never_collide(tmp_path: Path) -> None:
    async def main() -> list[str]:
        return await asyncio.gather(*(
            asyncio.to_thread(maildir.deliver, str(tmp_path / "box"), b"%d\n" % i)
            for i in range(40)))

    paths = asyncio.run(main())
    assert len(set(paths)) == 40
    assert sorted(Path(p).read_bytes() for p in paths) == sorted(b"%d\n" % i for i in range(40))


def test_an_existing_maildir_is_used_as_it_is(tmp_path: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (tmp_path / sub).mkdir(mode=0o750)
    maildir.deliver(str(tmp_path), b"x\n")
    assert mode(tmp_path / "new") == 0o750
    assert len(os.listdir(tmp_path / "new")) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
def test_created_directories_and_files_belong_to_the_owner(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    box = tmp_path / "nobody"
    path = Path(maildir.deliver(str(box), b"x\n", owner=Owner(nobody.pw_uid, nobody.pw_gid)))
    for item in (box, box / "tmp", box / "new", box / "cur", path):
        assert (item.stat().st_uid, item.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert tmp_path.stat().st_uid == os.geteuid()  # existing directories are left alone


def test_a_file_in_the_way_bounces_with_the_create_text(tmp_path: Path) -> None:
    (tmp_path / "alice").write_text("an mbox file\n")
    with pytest.raises(MaildirError) as info:
        maildir.deliver(str(tmp_path / "alice"), b"x\n")
    error = info.value
    assert re.fullmatch(
        rf"create maildir file {tmp_path}/alice/tmp/\d+\.P{os.getpid()}Q\d+\.[^/]+: "
        r"Not a directory", error.reason), error.reason
    assert (error.dsn, error.temporary) == ("5.2.0", False)


def test_a_message_over_mailbox_size_limit_bounces_as_a_full_mailbox(tmp_path: Path) -> None:
    with pytest.raises(MaildirError) as info:
        maildir.deliver(str(tmp_path / "box"), b"x" * 101, size_limit=100)
    error = info.value
    assert (error.reason, error.dsn, error.temporary) == (
        "error writing message: File too large", "5.2.2", False)
    assert os.listdir(tmp_path / "box" / "tmp") == []
    assert not (tmp_path / "box" / "new").exists()
    maildir.deliver(str(tmp_path / "box"), b"x" * 100, size_limit=100)


@pytest.mark.parametrize(("err", "dsn"), [
    (errno.EAGAIN, "4.2.0"), (errno.ESTALE, "4.2.0"), (errno.ENOSPC, "4.3.0"),
    (errno.EDQUOT, "5.2.2"), (errno.EFBIG, "5.2.2"), (errno.EACCES, "5.2.0"),
])
def test_write_errors_map_to_postfix_status_codes(err: int, dsn: str) -> None:
    assert mbox_dsn(err, "5.2.0") == dsn
