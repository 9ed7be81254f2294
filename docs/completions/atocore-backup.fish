# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_atocore_backup_global_optspecs
    string join \n backup-dir= json no-progress lock-timeout= config= repo= s3-endpoint= s3-region= s3-path-style s3-retries= key-file= insecure-no-encryption copy-to= copy-to-key-file= db= canary-sql= registry= chroma= ingestion-lock= files= h/help V/version
end

function __fish_atocore_backup_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_atocore_backup_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_atocore_backup_using_subcommand
    set -l cmd (__fish_atocore_backup_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -s V -l version -d 'Print version'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "list" -d 'List snapshots, newest first'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "validate" -d 'Check a snapshot: manifest, checksums, unlisted files, each component\'s own checks'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "drill" -d 'Validate a snapshot, restore it into a scratch folder, verify it there, log the result'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "cleanup" -d 'Remove temporary folders left by interrupted runs'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "status" -d 'Show the newest snapshot, the last drill and check and their ages, the repository size, unfinished restores, leftovers and locks (and write them as Prometheus metrics)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "check" -d 'Check the whole repository: every manifest, every chunk it needs, every index against its pack, and with --read-data every byte'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "completions" -d 'Print a completion script for a shell on stdout (bash, zsh, fish, elvish, powershell)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "man" -d 'Print the man page on stdout, or write one page per command into a folder'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "prune" -d 'Remove snapshots a retention policy does not keep, and the data only they needed'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "migrate" -d 'Import the plain snapshot folders of a backup dir made by an earlier release into a repository in the same backup dir, or into the one --repo names (the folders are left for you to remove)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "copy" -d 'Send the snapshots a second place lacks (`--to ADDRESS`, else --copy-to / ATOCORE_COPY_TO) and read each back from there, checking every file\'s SHA-256'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "key" -d 'Repository keys: `key generate FILE` writes a new random key (mode 0600, never over an existing file); `key id` prints the id of the key given'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "create" -d 'Take a snapshot of the live database, registry and Chroma folder'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "restore" -d 'Restore a snapshot over the live store (or into another folder with --to)'
complete -c atocore-backup -n "__fish_atocore_backup_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand list" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l deep -d 'Also search every Chroma collection\'s index and measure its recall against brute force (as every restore and drill does when it verifies)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand validate" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l sample -d 'Build a small sample store in a scratch folder, back it up, change it, and drill that (ignores configured paths)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand drill" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand cleanup" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l prometheus -d 'Also write the same as Prometheus metrics to FILE (a node_exporter textfile; written to a temporary name and renamed, so a scrape never reads half a file)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand status" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l read-data-subset -d 'Read only part of the data: N/M reads the N-th of M slices (run 1/7 to 7/7 on successive nights to cover everything in a week); P% reads about P percent, at random' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l read-data -d 'Also read every pack and check every chunk\'s hash'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand check" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand completions" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l dir -d 'Write `atocore-backup.1` and a page per subcommand (`atocore-backup-create.1`, ...) into this folder instead' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand man" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-last -d 'Keep the newest N snapshots' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-hourly -d 'Keep the newest snapshot of each of the last N hours that have one' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-daily -d 'Keep the newest snapshot of each of the last N days (UTC) that have one' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-weekly -d 'Keep the newest snapshot of each of the last N weeks (Monday to Sunday, UTC)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-monthly -d 'Keep the newest snapshot of each of the last N months (UTC)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-within -d 'Keep every snapshot taken within DURATION of the newest (36h, 7d, 2w, 6m, 1y)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l keep-pre-restore -d 'Keep pre-restore safety snapshots younger than DURATION (from now)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l dry-run -d 'Print the plan (what is kept and why, what goes, bytes freed) and change nothing'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand prune" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l to -d 'Where to: `s3://BUCKET/PREFIX`, or a local folder (a repository)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand copy" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -f -a "generate" -d 'Write a new random key into FILE (which must not exist)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -f -a "id" -d 'Print the id of the key given by --key-file or ATOCORE_KEY (what the repository\'s config records; never the key)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and not __fish_seen_subcommand_from generate id help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from id" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "generate" -d 'Write a new random key into FILE (which must not exist)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "id" -d 'Print the id of the key given by --key-file or ATOCORE_KEY (what the repository\'s config records; never the key)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l skip -d 'Leave this store out of the snapshot even when its path is configured (repeat for more than one)' -r -f -a "sqlite\t''
registry\t''
chroma\t''
files\t''"
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l no-registry
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l no-chroma
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l no-files
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand create" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l to -d 'Restore into this folder instead of over the live files (nothing there may exist yet)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l stop-cmd -d 'Stop the service with this shell command first (implies --confirm-service-stopped; the restore still waits until nothing holds the live store open). Only for a restore over the live store: not used with --to, --resume or --rollback' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l start-cmd -d 'Start the service with this shell command after the restore, only when every restored store verified' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l health-cmd -d 'After the start command, run this shell command once a second until it succeeds' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l health-timeout -d 'How long the health command may keep failing' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l stop-timeout -d 'How long to wait, after the stop command, for the service to let go of the store' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l skip -d 'Leave this live store alone even when the snapshot holds it (repeat for more than one)' -r -f -a "sqlite\t''
registry\t''
chroma\t''
files\t''"
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l backup-dir -d 'Where snapshots are kept: a repository of deduplicated, compressed chunks (a new backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup dir made by an earlier release, until `migrate`)' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l lock-timeout -d 'How long to wait for another run\'s lock on the backup dir or live store before giving up' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l config -d 'Read settings from this TOML file (docs/config.md); options and environment variables override it' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l repo -d 'Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup dir (which then holds only the local state: journal, locks, drill log, index cache). Credentials come from the environment or the AWS files only (docs/offhost.md)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l s3-endpoint -d 'The endpoint of an S3-compatible store other than AWS (`https://host:port`)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l s3-region -d 'The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l s3-retries -d 'How many times a failed request to object storage is tried again (with backoff)' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l key-file -d 'The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or the key itself in ATOCORE_KEY. Every object but the config is then encrypted' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l copy-to -d 'The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder): `copy` sends what it lacks, `list` shows which snapshots it has' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l copy-to-key-file -d 'The key of the second place, when it is not the repository\'s own key' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l db -d 'The live SQLite database file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l canary-sql -d 'A read-only query whose result `create` records and every restore and drill checks again (repeat for more; in the environment, one per line), e.g. "SELECT count(*) FROM memories".' -r
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l registry -d 'The live project-registry JSON file.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l chroma -d 'The live Chroma persist folder.' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l ingestion-lock -d 'The service\'s exclusive-ingestion lock file, held while Chroma is copied [default: <chroma dir>/../.ingestion.lock].' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l files -d 'A folder of plain files to capture with the store (the service\'s deploy configuration).' -r -F
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l resume -d 'Finish an unfinished restore by rolling forward to the snapshot its journal names'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l rollback -d 'Finish an unfinished restore by returning to the pre-restore snapshot its journal names'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l confirm-service-stopped -d 'Confirm the service is stopped; required to restore over live files'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l no-pre-snapshot -d 'Do not take the pre-restore safety snapshot of the live state'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l allow-schema-change -d 'Restore over live stores even when the snapshot\'s schema differs from theirs (an older database schema, another Chroma migration level): going back past a migration'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l no-registry
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l no-chroma
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l no-files
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l json -d 'Print results as JSON on stdout (messages still go to stderr)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l no-progress -d 'Draw no progress bar (one is drawn on stderr only when it is a terminal)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l s3-path-style -d 'Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -l insecure-no-encryption -d 'Keep a repository on object storage without encryption (anyone who can read the bucket can read the backups)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand restore" -s h -l help -d 'Print help'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "list" -d 'List snapshots, newest first'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "validate" -d 'Check a snapshot: manifest, checksums, unlisted files, each component\'s own checks'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "drill" -d 'Validate a snapshot, restore it into a scratch folder, verify it there, log the result'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "cleanup" -d 'Remove temporary folders left by interrupted runs'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "status" -d 'Show the newest snapshot, the last drill and check and their ages, the repository size, unfinished restores, leftovers and locks (and write them as Prometheus metrics)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "check" -d 'Check the whole repository: every manifest, every chunk it needs, every index against its pack, and with --read-data every byte'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "completions" -d 'Print a completion script for a shell on stdout (bash, zsh, fish, elvish, powershell)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "man" -d 'Print the man page on stdout, or write one page per command into a folder'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "prune" -d 'Remove snapshots a retention policy does not keep, and the data only they needed'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "migrate" -d 'Import the plain snapshot folders of a backup dir made by an earlier release into a repository in the same backup dir, or into the one --repo names (the folders are left for you to remove)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "copy" -d 'Send the snapshots a second place lacks (`--to ADDRESS`, else --copy-to / ATOCORE_COPY_TO) and read each back from there, checking every file\'s SHA-256'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "key" -d 'Repository keys: `key generate FILE` writes a new random key (mode 0600, never over an existing file); `key id` prints the id of the key given'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "create" -d 'Take a snapshot of the live database, registry and Chroma folder'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "restore" -d 'Restore a snapshot over the live store (or into another folder with --to)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and not __fish_seen_subcommand_from list validate drill cleanup status check completions man prune migrate copy key create restore help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "generate" -d 'Write a new random key into FILE (which must not exist)'
complete -c atocore-backup -n "__fish_atocore_backup_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "id" -d 'Print the id of the key given by --key-file or ATOCORE_KEY (what the repository\'s config records; never the key)'
