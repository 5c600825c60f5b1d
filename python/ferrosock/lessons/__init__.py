"""The lesson's programs, runnable on the stdlib `socket` module or on ferrosock.

Each program is the lesson's, written as a learner would type it; the one line that differs is
the import, which picks the socket module from ``--backend``:

    python -m ferrosock.lessons.tcp_hello_server [--backend rust|std] [--port N] [--host H]

``--backend rust`` (the default, as for ``python -m ferrosock serve``) runs it on ferrosock,
``--backend std`` on the stdlib ``socket`` module.

=====================  ======  ==========================================================
program                port    what it shows
=====================  ======  ==========================================================
tcp_hello_server       8898    TCP: accept one client, receive, answer b'hi'
tcp_hello_client       8898    TCP: connect, send b'hello!', print the answer
reuse_server           8898    the TCP server again, with SO_REUSEADDR: restarts at once
udp_hello_server       9000    UDP: receive one datagram, answer b'hi'
udp_hello_client       9000    UDP: send b'hello', print the answer and who sent it
qq_chat_server         8081    UDP chat: print each message, ask the operator for a reply
qq_chat_client         8081    UDP chat: pick a contact, then send messages (q ends)
time_server            9000    UDP: answer each strftime format with the local time
time_client            9000    UDP: ask for formats (empty line: the server's default)
sticky_server          8899    TCP is a byte stream: print what each recv(1024) got
sticky_client          8899    send b'hello' five times, then 200 KB: watch them glue
framed_server          8899    the fix: recv_msg reads each length-prefixed message whole
framed_client          8899    the same burst sent with send_msg (a 4-byte length first)
file_server            8900    save uploads (JSON header, SHA-256 checked), until Ctrl-C
file_client            8900    upload one file with a progress bar: file_client PATH
auth_server            8901    HMAC challenge: serve only clients that know the key
auth_client            8901    answer the challenge (--key), send a message, print echo
=====================  ======  ==========================================================

Start the server first, then the client in another terminal. The looping servers (chat, time,
file, auth) run until Ctrl-C; Ctrl-C is their normal way to stop, so they print ``server
stopped`` and exit with status 0, on either backend. The clients that read the keyboard end on
Ctrl-D (end of input) or Ctrl-C, also with status 0. Every server prints one ``... listening
on HOST:PORT`` line once it is bound, so you know when to start the client.
"""
