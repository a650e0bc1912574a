from resolve.pip_patch import allowed_link, index_files_prefix


def test_only_files_of_the_index_may_be_prepared():
    prefix = index_files_prefix("http://127.0.0.1:41234/simple/")
    assert prefix == "http://127.0.0.1:41234/files/"
    assert allowed_link("http://127.0.0.1:41234/files/idna/idna-3.10.tar.gz", prefix)
    for url in [
        "file:///proc/self/cwd/requirements.txt",
        "http://127.0.0.1:41234/simple/idna/",
        "http://127.0.0.1:9/files/idna/idna-3.10.tar.gz",
        "http://127.0.0.1:41234/files/../x",
        "https://example.invalid/files/x.tar.gz",
    ]:
        assert not allowed_link(url, prefix), url
