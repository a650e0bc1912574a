from resolve.inbox import scan


def test_new_requests_lowest_id_first():
    found = scan(["10.json", "9.json", "2.json"], set())
    assert found.new == ["2", "9", "10"]
    assert not found.stop


def test_taken_requests_are_not_new_again():
    assert scan(["1.json", "2.json", "3.json"], {"1", "3"}).new == ["2"]
    assert scan(["1.json"], {"1"}).new == []


def test_temporary_and_stray_files_are_ignored():
    names = ["4.json.tmp", ".4.json", "4.JSON", "x.json", "4.json~", "-4.json", "4", "stop.json", "1e3.json"]
    assert scan(names, set()).new == []


def test_stop():
    found = scan(["stop", "5.json"], set())
    assert found.stop
    assert found.new == ["5"]
    assert not scan(["stop.tmp", "STOP"], set()).stop
