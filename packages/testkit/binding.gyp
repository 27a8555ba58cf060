{
  "targets": [
    {
      "target_name": "netns",
      "sources": ["native/netns.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
