print("hello-sockets")
