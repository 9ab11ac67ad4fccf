exec /usr/bin/python3 -s /kbs/stub/warm_stub.py
