"""make demo, against the session's stack: every sample material becomes a document, and the
course a structure."""

from devstack import demo


def test_the_demo_ingests_every_sample_and_prints_its_documents(stack, capsys):
    assert demo.run(stack.env) == 0
    shown = capsys.readouterr().out
    for filename in demo.MATERIALS:
        assert f"== {filename}: done" in shown
    assert "[heading   ] level=1" in shown and "Python basics" in shown
    assert "title=Dictionaries" in shown and "start_seconds=9.0" in shown
    # the session stack has an OpenAI-compatible model: the demo goes on to the structure
    assert "Foundations (easy)" in shown and "Lesson 4: lecture.vtt  [video 00:00:00 to 00:00:16]" in shown
    assert "version 1 by gpt-4o-mini: $" in shown
    # then the author's edit, kept by a rerun with every id, and the diff that shows it
    assert "every id the same as before: True" in shown
    assert "versions: 1 (run), 2 (edits), 3 (run)" in shown
    assert "(the author's title)" in shown.split("versions:")[1]
