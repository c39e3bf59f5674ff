"""WeChat Pay APIv3 as the vouchers domain talks to it: request signing, answer and notification
verification, resource decryption (:mod:`.signing`), the HTTP client (:mod:`.client`), incoming
notifications (:mod:`.notifications`) and the daily trade bill (:mod:`.bill`).

Built on the ``cryptography`` package rather than an SDK: the SDKs on PyPI are synchronous
(``requests``), hard-code the gateway host and fetch certificates when constructed, and leave the
timestamp window of a notification to the caller.
"""
