return Reparo.Cli.CliApp.Run(args);
