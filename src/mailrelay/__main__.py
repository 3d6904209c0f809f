from mailrelay.cli.main import main

raise SystemExit(main())
