from customer_card.cli import main

raise SystemExit(main())
