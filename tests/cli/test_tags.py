"""`stepsize tag`, `untag` and `archive` against a real server."""

from __future__ import annotations

LINEAR = {"type": "linear", "start": 0.1, "end": 0.0, "steps": 100}


def versions(registry, ref: str, count: int) -> None:
    for steps in range(100, 100 + count):
        registry.publish(ref, {**LINEAR, "steps": steps})


def test_tag_says_where_the_tag_moved_from(stepsize, registry):
    versions(registry, "tags/moving", 3)
    new = stepsize("tag", "tags/moving", "prod", "1")
    assert (new.code, new.out.strip()) == (0, "tags/moving:prod -> @1 (new tag)")
    moved = stepsize("tag", "tags/moving", "prod", "3")
    assert (moved.code, moved.out.strip()) == (0, "tags/moving:prod -> @3 (moved from @1)")
    same = stepsize("tag", "tags/moving", "prod", "3")
    assert same.out.strip() == "tags/moving:prod -> @3 (unchanged)"
    answer = stepsize("tag", "tags/moving", "prod", "2", "--json").json()
    assert (answer["version"], answer["previous"]) == (2, 3)
    assert registry.summary("tags/moving")["tags"] == {"prod": 2}


def test_tag_refuses_a_missing_version_and_latest(stepsize, registry):
    versions(registry, "tags/refused", 1)
    missing = stepsize("tag", "tags/refused", "prod", "9")
    assert missing.code == 1 and missing.err.startswith("stepsize: error: 404")
    latest = stepsize("tag", "tags/refused", "latest", "1")
    assert latest.code == 1 and "latest" in latest.err
    assert stepsize("tag", "tags/refused", "prod", "0").code == 2


def test_untag_drops_the_tag(stepsize, registry):
    versions(registry, "tags/dropped", 2)
    stepsize("tag", "tags/dropped", "prod", "2")
    dropped = stepsize("untag", "tags/dropped", "prod")
    assert (dropped.code, dropped.out.strip()) == (0, "tags/dropped:prod removed (was @2)")
    assert registry.summary("tags/dropped")["tags"] == {}
    again = stepsize("untag", "tags/dropped", "prod")
    assert again.code == 1 and "has no tag 'prod'" in again.err
    stepsize("tag", "tags/dropped", "rc", "1")
    answer = stepsize("untag", "tags/dropped", "rc", "--json").json()
    assert (answer["version"], answer["previous"]) == (None, 1)


def test_archive_needs_yes_and_keeps_pinned_versions(stepsize, registry):
    versions(registry, "tags/old", 2)
    stepsize("tag", "tags/old", "prod", "1")
    asked = stepsize("archive", "tags/old", stdin="")
    assert asked.code == 2 and "--yes" in asked.err
    assert registry.summary("tags/old")["archived"] is False

    done = stepsize("archive", "tags/old", "--yes")
    assert done.code == 0 and done.out.startswith("tags/old archived (2 version(s)")
    assert registry.summary("tags/old")["archived"] is True
    assert "tags/old" not in stepsize("ls", "--namespace", "tags").out
    assert float(stepsize("lr", "tags/old@1", "0").out) == 0.1  # pinned: still resolves
    by_tag = stepsize("lr", "tags/old:prod", "0")
    assert by_tag.code == 1 and by_tag.err.startswith("stepsize: error: 410")
    refused = stepsize(
        "push", "tags/old", "-", stdin='{"type": "linear", "start": 0.1, "end": 0, "steps": 5}'
    )
    assert refused.code == 1 and "409" in refused.err
    answer = stepsize("archive", "tags/old", "--yes", "--json")
    assert answer.code in (0, 1)  # archiving twice: whatever the server says, in one line
