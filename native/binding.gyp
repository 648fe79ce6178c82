{
  "targets": [
    {
      "target_name": "lifeline",
      "sources": ["lifeline_fs.c", "crc32c.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
