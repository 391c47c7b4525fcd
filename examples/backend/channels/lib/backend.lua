-- Where the application's backend listens (examples/backend/backend.py). The server must allow it:
-- hello-sockets --http-allow 127.0.0.1:4100 (run.sh does). Tests write their own copy of this file.
return { url = "http://127.0.0.1:4100" }
